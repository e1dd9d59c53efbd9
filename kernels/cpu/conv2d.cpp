#include "kernels/cpu/conv2d.h"

#include <algorithm>
#include <cstring>

#include "base/thread_pool.h"
#include "kernels/cpu/direct_conv.h"
#include "kernels/cpu/epilogue.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/im2col_panels.h"
#include "kernels/cpu/linear.h"
#include "kernels/cpu/packed_gemm.h"

namespace nse {

namespace {

// im2col tiles hold at most this many floats (8 MiB), so VGG-sized layers do not need a
// 100+ MB column matrix; tiles are at least kMinTileCols wide to keep the GEMM efficient.
constexpr int64_t kTileBudget = 2 << 20;
constexpr int64_t kMinTileCols = 256;

int64_t tile_cols(const ConvShape& sh) {
    int64_t rows = sh.c / sh.groups * sh.r * sh.s;
    int64_t pq = sh.p() * sh.q();
    int64_t cols = std::max(kMinTileCols, kTileBudget / std::max<int64_t>(rows, 1));
    return std::min(pq, cols);
}

// col[row, j - j0] for j in [j0, j1), row = (c * R + r) * S + s over the group's channels.
void im2col_tile(ThreadPool& pool, const ConvShape& sh, const float* x, int64_t j0, int64_t j1,
                 float* col) {
    const int64_t cg = sh.c / sh.groups, P = sh.p(), Q = sh.q();
    const int64_t rows = cg * sh.r * sh.s, width = j1 - j0;
    (void)P;
    // A strided copy costs more per value written than kFlopsPerElement says: weighted by the
    // strides, ResNet-18's 1x1 stride-2 shortcuts split their copy over the pool too (64 -> 128
    // channels at 56x56, 50 K values, had run it on the calling thread: 0.097 -> 0.071-0.075 ms
    // a layer at 2 threads; 128 -> 256 at 28x28 0.084 -> 0.067-0.072).
    const double work = kFlopsPerElement * double(rows * width * sh.stride_h * sh.stride_w);
    pool.parallel_for(rows, work, [&](int64_t row0, int64_t row1) {
        for (int64_t row = row0; row < row1; ++row) {
            const int64_t s = row % sh.s, r = (row / sh.s) % sh.r, c = row / (sh.s * sh.r);
            const float* plane = x + c * sh.h * sh.w;
            float* out = col + row * width;
            int64_t j = j0;
            while (j < j1) {
                const int64_t p = j / Q, q0 = j % Q;
                const int64_t n = std::min(Q - q0, j1 - j);
                const int64_t ih = p * sh.stride_h - sh.pad_h + r * sh.dil_h;
                float* o = out + (j - j0);
                if (ih < 0 || ih >= sh.h) {
                    std::memset(o, 0, n * sizeof(float));
                } else {
                    // Columns [i0, i1) read inside the row; the ones before and after are
                    // padding. The inside is a copy (stride 1) or a branch-free strided loop
                    // (a per-element bounds test made this a tenth of ResNet-18's time).
                    const int64_t base = -sh.pad_w + s * sh.dil_w, sw = sh.stride_w;
                    const int64_t first = q0 * sw + base;  // input column of i = 0
                    const int64_t i0 =
                        std::clamp<int64_t>(first < 0 ? (-first + sw - 1) / sw : 0, 0, n);
                    const int64_t i1 = std::clamp<int64_t>(
                        sh.w - first > 0 ? (sh.w - first + sw - 1) / sw : 0, i0, n);
                    std::fill(o, o + i0, 0.f);
                    std::fill(o + i1, o + n, 0.f);
                    const float* in = plane + ih * sh.w + first;
                    if (sw == 1)
                        std::copy(in + i0, in + i1, o + i0);
                    else if (sw == 2)
                        copy_stride2(i1 - i0, in + 2 * i0, o + i0);
                    else
                        copy_strided(i1 - i0, in + sw * i0, sw, o + i0);
                }
                j += n;
            }
        }
    });
}

// y[k, :] = act(y[k, :] + b[k]) for k in [0, K).
void bias_activation(ThreadPool& pool, int64_t K, int64_t HW, const float* b, Activation act,
                     float* y) {
    if (!b && act == Activation::None) return;
    pool.parallel_for(K, kFlopsPerElement * K * HW, [&](int64_t k0, int64_t k1) {
        for (int64_t k = k0; k < k1; ++k) bias_activation_row(HW, b ? b[k] : 0.f, act, y + k * HW);
    });
}

}  // namespace

namespace {
// The packed weights' layout for a shape (its output map decides).
PackedWeights::Layout packed_layout(const ConvShape& sh) {
    return packed_layout_for(sh.k / sh.groups, sh.p() * sh.q(), sh.c / sh.groups * sh.r * sh.s,
                             !sh.pointwise());
}
// Floats of the im2col tile at the start of the workspace (none for 1x1).
size_t im2col_floats(const ConvShape& sh) {
    return sh.pointwise() ? 0 : static_cast<size_t>(sh.c / sh.groups * sh.r * sh.s * tile_cols(sh));
}
}  // namespace

size_t conv2d_workspace_floats(const ConvShape& sh, int threads) {
    if (sh.depthwise()) return depthwise_workspace_floats(sh, threads);
    if (direct_conv_applies(sh)) return direct_conv_workspace_floats(sh);
    // After the im2col tile, what the packed GEMM needs for the widest GEMM the layer runs.
    const size_t gemm =
        conv2d_uses_packed_gemm(sh)
            ? packed_gemm_workspace_floats(packed_layout(sh),
                                           sh.pointwise() ? sh.p() * sh.q() : tile_cols(sh),
                                           sh.c / sh.groups * sh.r * sh.s)
            : 0;
    return im2col_floats(sh) + gemm;
}

bool conv2d_uses_packed_gemm(const ConvShape& sh) {
    return !sh.depthwise() && !direct_conv_applies(sh) && !conv2d_matrix_vector(sh) &&
           packed_gemm_available();
}

bool conv2d_matrix_vector(const ConvShape& sh) {
    return sh.pointwise() && sh.groups == 1 && sh.p() * sh.q() == 1;
}

std::vector<PackedWeights> pack_conv_weights(const ConvShape& sh, const float* w) {
    const int64_t kg = sh.k / sh.groups, rows = sh.c / sh.groups * sh.r * sh.s;
    const auto layout = packed_layout(sh);
    std::vector<PackedWeights> out;
    for (int64_t g = 0; g < sh.groups; ++g)
        out.emplace_back(kg, rows, w + g * kg * rows, rows, layout);
    return out;
}

void conv2d_f32_cpu(ThreadPool& pool, const ConvShape& sh, const float* x, const float* w,
                    const float* b, Activation act, float* y, float* workspace,
                    const PackedWeights* packed, const float* direct) {
    if (sh.depthwise()) {
        depthwise_conv2d_f32_cpu(pool, sh, x, w, b, act, y, workspace);
        return;
    }
    if (direct_conv_applies(sh)) {
        direct_conv2d_f32_cpu(pool, sh, x, w, b, act, y, workspace, direct);
        return;
    }
    if (conv2d_matrix_vector(sh)) {  // x [N, C], w [K, C]: y [N, K]
        linear_f32_cpu(pool, sh.n, sh.c, sh.k, x, w, b, act, y);
        return;
    }
    const int64_t G = sh.groups, cg = sh.c / G, kg = sh.k / G;
    const int64_t PQ = sh.p() * sh.q(), HW = sh.h * sh.w, rows = cg * sh.r * sh.s;
    for (int64_t n = 0; n < sh.n; ++n) {
        const float* xn = x + n * sh.c * HW;
        float* yn = y + n * sh.k * PQ;
        for (int64_t g = 0; g < G; ++g) {
            const float* xg = xn + g * cg * HW;
            const float* wg = w + g * kg * rows;
            float* yg = yn + g * kg * PQ;
            const float* bg = b ? b + g * kg : nullptr;
            // C[kg, cols] = W B with B the input itself (1x1) or an im2col tile; the packed
            // GEMM adds the bias and applies the activation as it stores.
            auto gemm = [&](int64_t cols, const float* bm, float* c) {
                if (packed)
                    packed_gemm(pool, packed[g], cols, bm, cols, bg, act, c, PQ,
                                workspace + im2col_floats(sh));
                else
                    sgemm_nn(pool, kg, cols, rows, wg, rows, bm, cols, c, PQ);
            };
            if (sh.pointwise()) {
                gemm(PQ, xg, yg);
                continue;
            }
            const int64_t tile = tile_cols(sh);
            if (packed && packed[g].layout() == PackedWeights::Layout::Columns && tile == PQ &&
                im2col_column_panels_available()) {
                // The im2col matrix straight in the GEMM's column panels (im2col_panels.h).
                float* bt = workspace + im2col_floats(sh);
                im2col_column_panels(pool, sh, xg, bt);
                packed_gemm_prepacked(pool, packed[g], PQ, bt, bg, act, yg, PQ);
                continue;
            }
            for (int64_t j0 = 0; j0 < PQ; j0 += tile) {
                const int64_t j1 = std::min(PQ, j0 + tile);
                im2col_tile(pool, sh, xg, j0, j1, workspace);
                gemm(j1 - j0, workspace, yg + j0);
            }
        }
        if (!packed) bias_activation(pool, sh.k, PQ, b, act, yn);
    }
}

}  // namespace nse
