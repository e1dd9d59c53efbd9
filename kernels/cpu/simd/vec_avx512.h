// The shared SIMD kernels' vector for x86-64 with AVX-512F: sixteen floats in a zmm register.
// Included only by simd_avx512.cpp, after `#pragma GCC target("avx512f,fma")`. (The GEMM and FC
// kernels of this path are hand-tuned apart; the bodies compiled with this vector are the ones
// written once for every path: attention, depthwise and direct convolution.)
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace nse::avx512 {

struct Vf {
    __m512 v;
};
constexpr int kLanes = 16;
// The direct convolution's pixel tiles (direct_conv_body.h): 12 output channels by two vectors
// of a row's pixels, 24 accumulators of the 32 zmm registers (the hand-tuned GEMM's tile).
constexpr int kGemmRows = 12;
constexpr int kGemmVectors = 2;
constexpr int kVectorRegisters = 32;
// Its channel tiles: up to 3 vectors (48 channels) per tile, wider groups in chunks of one (16
// channels, so a chunk's weights stay in L1 as on the other paths).
constexpr int kChannelTileVectors = 3;
constexpr int kChannelChunkVectors = 1;

inline __mmask16 first_lanes(int64_t n) {
    return n >= 16 ? __mmask16(0xFFFF) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1);
}
inline Vf zero() { return {_mm512_setzero_ps()}; }
inline Vf set1(float x) { return {_mm512_set1_ps(x)}; }
inline Vf load(const float* p) { return {_mm512_loadu_ps(p)}; }
inline void store(float* p, Vf x) { _mm512_storeu_ps(p, x.v); }
// The first n lanes from p (n may exceed the width), zero beyond; lanes past n are not read.
inline Vf load_n(const float* p, int64_t n) { return {_mm512_maskz_loadu_ps(first_lanes(n), p)}; }
// Stores the first n lanes (n may exceed the width); memory past them is not touched.
inline void store_n(float* p, Vf x, int64_t n) { _mm512_mask_storeu_ps(p, first_lanes(n), x.v); }
inline Vf fma(Vf a, Vf b, Vf c) { return {_mm512_fmadd_ps(a.v, b.v, c.v)}; }
inline Vf add(Vf a, Vf b) { return {_mm512_add_ps(a.v, b.v)}; }
inline Vf mul(Vf a, Vf b) { return {_mm512_mul_ps(a.v, b.v)}; }
inline Vf div(Vf a, Vf b) { return {_mm512_div_ps(a.v, b.v)}; }
inline Vf sub(Vf a, Vf b) { return {_mm512_sub_ps(a.v, b.v)}; }
inline Vf max(Vf a, Vf b) { return {_mm512_max_ps(a.v, b.v)}; }
inline Vf min(Vf a, Vf b) { return {_mm512_min_ps(a.v, b.v)}; }
inline void lanes(Vf x, float* out) { _mm512_storeu_ps(out, x.v); }
// e where x >= t, 0 elsewhere.
inline Vf keep_at_least(Vf x, float t, Vf e) {
    return {_mm512_maskz_mov_ps(_mm512_cmp_ps_mask(x.v, _mm512_set1_ps(t), _CMP_GE_OQ), e.v)};
}
// Each lane rounded to the nearest integer (ties to even).
inline Vf round_nearest(Vf x) {
    return {_mm512_roundscale_ps(x.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)};
}
// 2^n for integer-valued lanes n in [-126, 127], by building the exponent field.
inline Vf pow2i(Vf n) {
    return {_mm512_castsi512_ps(
        _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n.v), _mm512_set1_epi32(127)), 23))};
}

// Lanes 0, 2, ..., 30 (even) and 1, 3, ..., 31 (odd) of the 32 values lo:hi: a stride-2 row's
// columns.
inline Vf even(Vf lo, Vf hi) {
    const __m512i i = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    return {_mm512_permutex2var_ps(lo.v, i, hi.v)};
}
inline Vf odd(Vf lo, Vf hi) {
    const __m512i i = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    return {_mm512_permutex2var_ps(lo.v, i, hi.v)};
}

// clang-format off: inside this namespace (transpose8_ymm.h says why)
#include "kernels/cpu/simd/transpose8_ymm.h"
// clang-format on

// y[j][i] = x[i][j] for a 16 x 16 tile: its four 8 x 8 blocks, each to the mirrored place.
inline void transpose_tile(const float* x, int64_t ldx, float* y, int64_t ldy) {
    for (int bi = 0; bi < 2; ++bi)
        for (int bj = 0; bj < 2; ++bj)
            transpose8(x + 8 * bi * ldx + 8 * bj, ldx, y + 8 * bj * ldy + 8 * bi, ldy);
}

// Output rows of a block of the one-plane depthwise kernel: 8 chains of multiply-adds (with a 3x3
// filter's 9 taps and the loaded vector, 18 of the 32 registers), as on NEON.
constexpr int kDepthwiseRows = 8;

}  // namespace nse::avx512
