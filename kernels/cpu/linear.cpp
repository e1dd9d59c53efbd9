#include "kernels/cpu/linear.h"

#include <algorithm>

#include "base/thread_pool.h"
#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/simd/simd_kernels.h"
#include "kernels/cpu/unary.h"

namespace nse {

void linear_f32_cpu(ThreadPool& pool, int64_t m, int64_t in, int64_t out, const float* x,
                    const float* w, const float* b, Activation act, float* y) {
    // A batch computes each row as batch 1 does, bit for bit (a request batched in the cloud
    // gets the answer it would get alone), reading the weights once per four rows.
    if (m == 1)
        sgemv_n(pool, out, in, w, in, x, y);
    else
        sgemv_rows(pool, m, out, in, x, w, y);
    for (int64_t i = 0; i < m; ++i) {
        float* row = y + i * out;
        for (int64_t o = 0; o < out; ++o) row[o] = activate(act, row[o] + (b ? b[o] : 0.f));
    }
}

void transpose_f32_cpu(ThreadPool& pool, int64_t rows, int64_t cols, const float* x, float* y) {
    // Blocks of 64 x 64 (16 KB read, 16 KB written: both in L1), 8 x 8 tiles inside; AVX2 and
    // NEON transpose the tiles in registers (simd/transpose_body.h). Walking a 16-column strip
    // down all the rows instead read every row once per strip (a transformer's 3136 x 384
    // tokens: 24 times over, from L3) and took 6-11 ms for 1.2 M values on a Zen 3 core.
    constexpr int64_t kBlock = 64, kTile = 8;
    const int64_t col_blocks = (cols + kBlock - 1) / kBlock;
    const auto run = [&](int64_t b0, int64_t b1) {
        const int64_t first = b0 * kBlock, last = std::min(cols, b1 * kBlock);
#if defined(__x86_64__)
        if (cpu_path() == CpuPath::Avx2)
            return avx2::transpose_columns(rows, cols, x, y, first, last);
#endif
#if defined(__aarch64__)
        if (cpu_path() == CpuPath::Neon)
            return neon::transpose_columns(rows, cols, x, y, first, last);
#endif
        for (int64_t c0 = first; c0 < last; c0 += kBlock) {
            const int64_t c1 = std::min(last, c0 + kBlock);
            for (int64_t r0 = 0; r0 < rows; r0 += kBlock) {
                const int64_t r1 = std::min(rows, r0 + kBlock);
                for (int64_t rt = r0; rt < r1; rt += kTile)
                    for (int64_t ct = c0; ct < c1; ct += kTile) {
                        const int64_t re = std::min(r1, rt + kTile), ce = std::min(c1, ct + kTile);
                        for (int64_t c = ct; c < ce; ++c)
                            for (int64_t r = rt; r < re; ++r) y[c * rows + r] = x[r * cols + c];
                    }
            }
        }
    };
    if (rows * cols < kElementwiseParallelValues || pool.size() < 2) return run(0, col_blocks);
    pool.parallel_for(col_blocks, run);
}

PackedWeights::Layout linear_tokens_layout(int64_t m, int64_t in, int64_t out) {
    const int64_t min_in = cpu_path() == CpuPath::Avx512 ? 1 : 256;
    return packed_gemm_rows_available() && in >= min_in ? PackedWeights::Layout::Columns
                                                        : packed_layout_for(out, m, in);
}

size_t linear_tokens_workspace_floats(const PackedWeights& w, int64_t m) {
    const size_t gemm = packed_gemm_workspace_floats(w.layout(), m, w.k());
    if (w.layout() == PackedWeights::Layout::Columns && packed_gemm_rows_available()) return gemm;
    return size_t(m * (w.k() + w.m())) + gemm;
}

void linear_tokens_f32_cpu(ThreadPool& pool, int64_t m, const PackedWeights& w, const float* x,
                           const float* b, Activation act, bool gelu, float* y, float* workspace) {
    if (w.layout() == PackedWeights::Layout::Columns && packed_gemm_rows_available())
        return packed_gemm_rows(pool, w, m, x, w.k(), b, act, gelu, y, w.m(), workspace);
    // Elsewhere: y^T = W x^T through two transposes.
    float* xt = workspace;       // [I][M]
    float* yt = xt + m * w.k();  // [O][M]
    float* scratch = yt + m * w.m();
    transpose_f32_cpu(pool, m, w.k(), x, xt);
    packed_gemm(pool, w, m, xt, m, b, act, yt, m,
                packed_gemm_workspace_floats(w.layout(), m, w.k()) ? scratch : nullptr);
    transpose_f32_cpu(pool, w.m(), m, yt, y);
    if (gelu) unary_f32_cpu(pool, m * w.m(), UnaryOp::Gelu, y, y);
}

}  // namespace nse
