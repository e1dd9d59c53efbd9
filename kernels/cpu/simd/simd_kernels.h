// The shared SIMD kernels: one source (the *_body.h files) written against a small vector
// interface (vec_avx2.h: 8 lanes; vec_neon.h: 4 lanes; vec_avx512.h: 16), compiled into namespace
// nse::avx2 by simd_avx2.cpp (x86-64, AVX2 + FMA) and nse::neon by simd_neon.cpp (aarch64); the
// convolution bodies (direct and depthwise) into nse::avx512 by simd_avx512.cpp too. The callers
// (packed_gemm.cpp, direct_conv.cpp, ...) pick by cpu_path(); AVX-512's GEMM and FC kernels stay
// hand-tuned apart.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/cpu/direct_conv.h"
#include "kernels/cpu/packed_gemm.h"
#include "kernels/cpu/pool.h"
#include "kernels/cpu/unary.h"
#include "kernels/shapes.h"

namespace nse {

// One group of a direct convolution on the shared SIMD paths (simd/direct_conv_body.h).
struct DirectConvArgs {
    const float* x;  // input [c][hp][phases][wq]: padded, each row split by column phase
    int64_t hp, phases, wq;
    // Weights in panels of direct_conv_panel_rows() rows, [k/MR][c r s][MR], or where
    // direct_conv_channel_width is not 0, as direct_conv_channel_weights lays them out.
    const float* w;
    const float* bias;  // k values, or null
    Activation act;
    float* y;  // output [k][p][q]
    int64_t c, k, r, s, p, q, stride_h, dil_h, dil_w;
};

}  // namespace nse

// The convolution kernels of the shared bodies, which AVX-512 compiles too (simd_avx512.cpp).
#define NSE_DECLARE_SIMD_CONV_KERNELS                                                              \
    /* Direct convolution (direct_conv.h): output rows [p0, p1) of one group; its weights in       \
       panels of direct_conv_panel_rows() output channels, k-major; its input split by             \
       direct_conv_split_row, one padded row at a time (`phases` runs of `wq` floats). */          \
    int64_t direct_conv_panel_rows();                                                              \
    /* A group of k output channels, crs taps, on a p x q map in channel vectors instead: the      \
       weights' values per tap (k rounded up to whole vectors), or 0 for the panels. */            \
    int64_t direct_conv_channel_width(int64_t k, int64_t crs, int64_t p, int64_t q);               \
    /* The share of the multiply-adds of the group's tiles (either tiling) that make outputs. */   \
    double direct_conv_fill(int64_t k, int64_t crs, int64_t p, int64_t q);                         \
    /* One group's weights w [k][crs] laid out for channel tiles (k rounded up to whole vectors    \
       times crs floats at out). */                                                                \
    void direct_conv_channel_weights(const float* w, int64_t k, int64_t crs, float* out);          \
    int64_t direct_conv_tile_pixels();                                                             \
    void direct_conv_split_row(const float* in, int64_t w, int64_t pad, int64_t phases,            \
                               int64_t wq, float* out);                                            \
    void direct_conv_rows(const DirectConvArgs& a, int64_t p0, int64_t p1);                        \
    /* depthwise_direct_f32_cpu's contract (depthwise_direct.h) on this path: square 3x3, 5x5      \
       and 7x7 filters; and its scratch. */                                                        \
    size_t depthwise_scratch_floats(const ConvShape& sh);                                          \
    /* Vector multiply-adds per tap for one output row of one channel (the cost's feature). */     \
    double depthwise_row_vectors(const ConvShape& sh);                                             \
    void depthwise(const ConvShape& sh, const float* x, const float* w, const float* b,            \
                   Activation act, float* y, int64_t first, int64_t last, float* scratch);         \
    /* Max pooling of one plane (pool.cpp's contract: rm0, rm1 row buffers, -inf margins). */      \
    void max_pool_plane(const PoolShape& sh, const float* in, float* out, float* rm0, float* rm1); \
    /* Average pooling of one plane, the same way (0 margins); wcount[q]: the window columns       \
       output column q divides by (PyTorch's count_include_pad rule). */                           \
    void avg_pool_plane(const PoolShape& sh, const float* in, float* out, float* rm0, float* rm1,  \
                        const float* wcount);

#define NSE_DECLARE_SIMD_KERNELS                                                                 \
    /* Columns of C per micro-tile (B is packed this wide). */                                   \
    int64_t gemm_tile_cols();                                                                    \
    /* Columns of C, counted in multiply-adds, that a last tile of `rest` (< gemm_tile_cols())   \
       columns computes: a vector tile, column tails, or both. */                                \
    int64_t gemm_last_tile_columns(int64_t rest);                                                \
    /* C[rows of A panels p0..p1, columns n0..n1) = act(A B + bias), A packed in the row layout, \
       on the calling thread. */                                                                 \
    void gemm_block(const PackedWeights& a, int64_t p0, int64_t p1, int64_t n0, int64_t n1,      \
                    const float* b, int64_t ldb, const float* bias, Activation act, float* c,    \
                    int64_t ldc);                                                                \
    /* A group of g column-layout tiles (packed_gemm.h) over one block of K (kc values) of       \
       the 32-row panel of A at ap (k-major); their sums start from their acc where `resume`,    \
       and go to their `out` where `last`. */                                                    \
    void gemm_column_tiles(int64_t g, const ColumnTile* tiles, int64_t kc, const float* ap,      \
                           bool resume, bool last);                                              \
    /* y[i] = W[i, :] . x for i < N (row stride ldw). */                                         \
    void gemv(int64_t N, int64_t K, const float* W, int64_t ldw, const float* x, float* y);      \
    /* Y[m, i] = W[i, :] . X[m, :] for m < M, i < N (W's rows K apart, Y's rows ldy apart), each \
       row bit-identical to gemv's. */                                                           \
    void gemv_multi(int64_t M, int64_t N, int64_t K, const float* W, const float* X, float* Y,   \
                    int64_t ldy);                                                                \
    /* y[c][r] = x[r][c] for the columns [c0, c1) of x [rows][cols] (linear.h's transpose). */   \
    void transpose_columns(int64_t rows, int64_t cols, const float* x, float* y, int64_t c0,     \
                           int64_t c1);                                                          \
    /* y = op(x) for n values (unary.h); false for an op left to the portable loop (tanh). */    \
    bool unary(UnaryOp op, int64_t n, const float* x, float* y);                                 \
    /* Winograd F(4x4)'s row transforms: winograd_rows.h's contract. */                          \
    void winograd_input_rows(int64_t tw, int64_t n, const float* t, float* v, int64_t vs);       \
    void winograd_output_rows(int64_t tw, const float* m, int64_t ms, float* t, int64_t n);      \
    NSE_DECLARE_SIMD_CONV_KERNELS

namespace nse {
#if defined(__x86_64__)
namespace avx2 {
NSE_DECLARE_SIMD_KERNELS
}
namespace avx512 {
NSE_DECLARE_SIMD_CONV_KERNELS
// The row layout's GEMM, hand-tuned (packed_gemm_rows_avx512.cpp): gemm_block's contract above.
__attribute__((target("avx512f"))) void gemm_block(const PackedWeights& a, int64_t p0, int64_t p1,
                                                   int64_t n0, int64_t n1, const float* b,
                                                   int64_t ldb, const float* bias, Activation act,
                                                   float* c, int64_t ldc);
}  // namespace avx512
#endif
#if defined(__aarch64__)
namespace neon {
NSE_DECLARE_SIMD_KERNELS
}
#endif
}  // namespace nse
