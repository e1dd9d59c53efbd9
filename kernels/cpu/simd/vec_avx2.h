// The shared SIMD kernels' vector for x86-64 with AVX2 + FMA: eight floats in a ymm register.
// Included only by simd_avx2.cpp, after `#pragma GCC target("avx2,fma")`.
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace nse::avx2 {

struct Vf {
    __m256 v;
};
constexpr int kLanes = 8;
// Rows and vectors of columns of the GEMM micro-tile: 6 x 16 keeps 12 accumulators, two vectors
// of B and a broadcast of A in the 16 ymm registers (2 loads and 6 broadcasts per 12 FMAs).
constexpr int kGemmRows = 6;
constexpr int kGemmVectors = 2;
// Rows of C the GEMM writes per sweep where the reduction is short (gemm_body.h's
// short_k_block): 4, the fewest streams of C that still ran at full speed on a Zen 4 core.
constexpr int kGemmShortKRows = 4;
// Whether the GEMM's first pass over an A panel prefetches A (gemm_body.h): on a Zen 4 core,
// where a network's weights come from memory, MobileNetV2 took 0.96 and ResNet-18 0.94 of the
// time with it (kernel revision 22); on Zen 3 it had changed nothing (docs/cpu-paths.md).
constexpr bool kGemmPrefetchA = true;
// Vector registers the kernels' register blocks are sized for (ymm0-15).
constexpr int kVectorRegisters = 16;
// The direct convolution's channel tiles (direct_conv_body.h): up to 3 vectors (24 channels) per
// tile, wider groups in chunks of 2 (16 channels, so a chunk's weights stay in L1).
constexpr int kChannelTileVectors = 3;
constexpr int kChannelChunkVectors = 2;

inline Vf zero() { return {_mm256_setzero_ps()}; }
inline Vf set1(float x) { return {_mm256_set1_ps(x)}; }
inline Vf load(const float* p) { return {_mm256_loadu_ps(p)}; }
inline void store(float* p, Vf x) { _mm256_storeu_ps(p, x.v); }
inline __m256i first_lanes(int64_t n) {
    const int m = n < 0 ? 0 : n > 8 ? 8 : int(n);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(m), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
// The first n lanes from p (n may exceed the width), zero beyond; lanes past n are not read.
// (A full vector as a plain load: vmaskmovps loads are slow on AMD's Zen cores.)
inline Vf load_n(const float* p, int64_t n) {
    if (n >= 8) return {_mm256_loadu_ps(p)};
    return {_mm256_maskload_ps(p, first_lanes(n))};
}
// Stores the first n lanes (n may exceed the width); memory past them is not touched. (Four,
// two and one at a time: vmaskmovps stores are microcoded on AMD's Zen cores.)
inline void store_n(float* p, Vf x, int64_t n) {
    if (n >= 8) return _mm256_storeu_ps(p, x.v);
    __m128 part = _mm256_castps256_ps128(x.v);
    if (n >= 4) {
        _mm_storeu_ps(p, part);
        part = _mm256_extractf128_ps(x.v, 1);
        p += 4;
        n -= 4;
    }
    if (n >= 2) {
        _mm_storel_pi(reinterpret_cast<__m64*>(p), part);
        part = _mm_movehl_ps(part, part);
        p += 2;
        n -= 2;
    }
    if (n >= 1) _mm_store_ss(p, part);
}
inline Vf fma(Vf a, Vf b, Vf c) { return {_mm256_fmadd_ps(a.v, b.v, c.v)}; }
inline Vf add(Vf a, Vf b) { return {_mm256_add_ps(a.v, b.v)}; }
inline Vf max(Vf a, Vf b) { return {_mm256_max_ps(a.v, b.v)}; }
inline Vf min(Vf a, Vf b) { return {_mm256_min_ps(a.v, b.v)}; }
inline Vf mul(Vf a, Vf b) { return {_mm256_mul_ps(a.v, b.v)}; }
inline Vf sub(Vf a, Vf b) { return {_mm256_sub_ps(a.v, b.v)}; }
inline Vf div(Vf a, Vf b) { return {_mm256_div_ps(a.v, b.v)}; }
// Each lane rounded to the nearest integer (ties to even).
inline Vf round_nearest(Vf x) {
    return {_mm256_round_ps(x.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)};
}
// 2^n for integer-valued lanes n in [-126, 127], by building the exponent field.
inline Vf pow2i(Vf n) {
    return {_mm256_castsi256_ps(
        _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n.v), _mm256_set1_epi32(127)), 23))};
}
// The lanes in order, into out[kLanes].
inline void lanes(Vf x, float* out) { _mm256_storeu_ps(out, x.v); }
// e where x >= t, 0 elsewhere.
inline Vf keep_at_least(Vf x, float t, Vf e) {
    return {_mm256_and_ps(_mm256_cmp_ps(x.v, _mm256_set1_ps(t), _CMP_GE_OQ), e.v)};
}
// Lanes 0, 2, 4, ... (even) and 1, 3, 5, ... (odd) of the 16 values lo:hi: a stride-2 row's
// columns.
inline Vf even(Vf lo, Vf hi) {
    const __m256 e = _mm256_shuffle_ps(lo.v, hi.v, _MM_SHUFFLE(2, 0, 2, 0));
    return {_mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), _MM_SHUFFLE(3, 1, 2, 0)))};
}
inline Vf odd(Vf lo, Vf hi) {
    const __m256 o = _mm256_shuffle_ps(lo.v, hi.v, _MM_SHUFFLE(3, 1, 3, 1));
    return {_mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(o), _MM_SHUFFLE(3, 1, 2, 0)))};
}

// 32 floats split by column phase: d[j] lane l = p[4 l + j] (Winograd F(4x4)'s strips: tile l's
// four columns in lane l of the four vectors). 128-bit halves of tiles l and l + 4 side by side,
// then a 4 x 4 transpose within each half.
inline void deinterleave4(const float* p, Vf d[4]) {
    __m256 a[4];
    for (int h = 0; h < 4; ++h)
        a[h] = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(p + 4 * h)),
                                    _mm_loadu_ps(p + 16 + 4 * h), 1);
    const __m256 u0 = _mm256_unpacklo_ps(a[0], a[1]), u1 = _mm256_unpackhi_ps(a[0], a[1]);
    const __m256 u2 = _mm256_unpacklo_ps(a[2], a[3]), u3 = _mm256_unpackhi_ps(a[2], a[3]);
    d[0] = {_mm256_shuffle_ps(u0, u2, _MM_SHUFFLE(1, 0, 1, 0))};
    d[1] = {_mm256_shuffle_ps(u0, u2, _MM_SHUFFLE(3, 2, 3, 2))};
    d[2] = {_mm256_shuffle_ps(u1, u3, _MM_SHUFFLE(1, 0, 1, 0))};
    d[3] = {_mm256_shuffle_ps(u1, u3, _MM_SHUFFLE(3, 2, 3, 2))};
}
// The inverse: p[4 l + j] = o[j] lane l for 32 floats.
inline void interleave4(const Vf o[4], float* p) {
    const __m256 u0 = _mm256_unpacklo_ps(o[0].v, o[1].v), u1 = _mm256_unpackhi_ps(o[0].v, o[1].v);
    const __m256 u2 = _mm256_unpacklo_ps(o[2].v, o[3].v), u3 = _mm256_unpackhi_ps(o[2].v, o[3].v);
    const __m256 r0 = _mm256_shuffle_ps(u0, u2, _MM_SHUFFLE(1, 0, 1, 0));  // tiles 0 | 4
    const __m256 r1 = _mm256_shuffle_ps(u0, u2, _MM_SHUFFLE(3, 2, 3, 2));  // 1 | 5
    const __m256 r2 = _mm256_shuffle_ps(u1, u3, _MM_SHUFFLE(1, 0, 1, 0));  // 2 | 6
    const __m256 r3 = _mm256_shuffle_ps(u1, u3, _MM_SHUFFLE(3, 2, 3, 2));  // 3 | 7
    _mm256_storeu_ps(p, _mm256_permute2f128_ps(r0, r1, 0x20));
    _mm256_storeu_ps(p + 8, _mm256_permute2f128_ps(r2, r3, 0x20));
    _mm256_storeu_ps(p + 16, _mm256_permute2f128_ps(r0, r1, 0x31));
    _mm256_storeu_ps(p + 24, _mm256_permute2f128_ps(r2, r3, 0x31));
}
// Lanes 1 .. 7 of d, then x.
inline Vf shift_in(Vf d, float x) {
    const __m256 s = _mm256_permutevar8x32_ps(d.v, _mm256_setr_epi32(1, 2, 3, 4, 5, 6, 7, 7));
    return {_mm256_blend_ps(s, _mm256_set1_ps(x), 0x80)};
}

// clang-format off: inside this namespace (transpose8_ymm.h says why)
#include "kernels/cpu/simd/transpose8_ymm.h"
// clang-format on

// y[j][i] = x[i][j] for an 8 x 8 tile (rows ldx and ldy floats apart).
inline void transpose_tile(const float* x, int64_t ldx, float* y, int64_t ldy) {
    transpose8(x, ldx, y, ldy);
}

// Output rows of a block of the depthwise kernel: 4 chains of multiply-adds, which with a 3x3
// filter's 9 taps and the loaded input vector fit the 16 registers (5x5 and 7x7 taps are read
// as memory operands).
constexpr int kDepthwiseRows = 4;

}  // namespace nse::avx2
