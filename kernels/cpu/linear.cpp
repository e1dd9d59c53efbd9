#include "kernels/cpu/linear.h"

#include <algorithm>

#include "base/thread_pool.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/gemm.h"
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
    // 16 x 16 tiles: both the reads and the writes touch a few cache lines per tile.
    constexpr int64_t kTile = 16;
    const int64_t col_tiles = (cols + kTile - 1) / kTile;
    const auto run = [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; ++t) {
            const int64_t c0 = t * kTile, c1 = std::min(cols, c0 + kTile);
            for (int64_t r0 = 0; r0 < rows; r0 += kTile) {
                const int64_t r1 = std::min(rows, r0 + kTile);
                for (int64_t c = c0; c < c1; ++c)
                    for (int64_t r = r0; r < r1; ++r) y[c * rows + r] = x[r * cols + c];
            }
        }
    };
    if (rows * cols < kElementwiseParallelValues || pool.size() < 2) return run(0, col_tiles);
    pool.parallel_for(col_tiles, run);
}

PackedWeights::Layout linear_tokens_layout(int64_t m, int64_t in, int64_t out) {
    return packed_gemm_rows_available() ? PackedWeights::Layout::Columns
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
