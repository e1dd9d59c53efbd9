// The shared SIMD kernels: one source (the *_body.h files) written against a small vector
// interface (vec_avx2.h: 8 lanes; vec_neon.h: 4 lanes), compiled into namespace nse::avx2 by
// simd_avx2.cpp (x86-64, AVX2 + FMA) and nse::neon by simd_neon.cpp (aarch64). The callers
// (packed_gemm.cpp, gemm.cpp) pick by cpu_path(); the AVX-512 kernels stay hand-tuned apart.
#pragma once

#include <cstdint>

#include "kernels/cpu/packed_gemm.h"
#include "kernels/shapes.h"

#define NSE_DECLARE_SIMD_KERNELS                                                                 \
    /* Columns of C per micro-tile (B is packed this wide). */                                   \
    int64_t gemm_tile_cols();                                                                    \
    /* C[rows of A panels p0..p1, columns n0..n1) = act(A B + bias), A packed in the row layout, \
       on the calling thread. */                                                                 \
    void gemm_block(const PackedWeights& a, int64_t p0, int64_t p1, int64_t n0, int64_t n1,      \
                    const float* b, int64_t ldb, const float* bias, Activation act, float* c,    \
                    int64_t ldc);                                                                \
    /* y[i] = W[i, :] . x for i < N (row stride ldw). */                                         \
    void gemv(int64_t N, int64_t K, const float* W, int64_t ldw, const float* x, float* y);      \
    /* Y[m, i] = W[i, :] . X[m, :] for m < M, i < N (W's rows K apart, Y's rows ldy apart), each \
       row bit-identical to gemv's. */                                                           \
    void gemv_multi(int64_t M, int64_t N, int64_t K, const float* W, const float* X, float* Y,   \
                    int64_t ldy);                                                                \
    /* depthwise3x3_f32_cpu's contract (depthwise3x3.h) on this path. */                         \
    void depthwise3x3(const ConvShape& sh, const float* x, const float* w, const float* b,       \
                      Activation act, float* y, int64_t first, int64_t last);

namespace nse {
#if defined(__x86_64__)
namespace avx2 {
NSE_DECLARE_SIMD_KERNELS
}
#endif
#if defined(__aarch64__)
namespace neon {
NSE_DECLARE_SIMD_KERNELS
}
#endif
}  // namespace nse
