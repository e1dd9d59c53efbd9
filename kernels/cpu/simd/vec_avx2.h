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

inline Vf zero() { return {_mm256_setzero_ps()}; }
inline Vf set1(float x) { return {_mm256_set1_ps(x)}; }
inline Vf load(const float* p) { return {_mm256_loadu_ps(p)}; }
inline void store(float* p, Vf x) { _mm256_storeu_ps(p, x.v); }
inline __m256i first_lanes(int64_t n) {
    const int m = n < 0 ? 0 : n > 8 ? 8 : int(n);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(m), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
// The first n lanes from p (n may exceed the width), zero beyond; lanes past n are not read.
inline Vf load_n(const float* p, int64_t n) { return {_mm256_maskload_ps(p, first_lanes(n))}; }
// Stores the first n lanes (n may exceed the width); memory past them is not touched.
inline void store_n(float* p, Vf x, int64_t n) { _mm256_maskstore_ps(p, first_lanes(n), x.v); }
inline Vf fma(Vf a, Vf b, Vf c) { return {_mm256_fmadd_ps(a.v, b.v, c.v)}; }
inline Vf add(Vf a, Vf b) { return {_mm256_add_ps(a.v, b.v)}; }
inline Vf max(Vf a, Vf b) { return {_mm256_max_ps(a.v, b.v)}; }
inline Vf min(Vf a, Vf b) { return {_mm256_min_ps(a.v, b.v)}; }
inline Vf mul(Vf a, Vf b) { return {_mm256_mul_ps(a.v, b.v)}; }
inline Vf sub(Vf a, Vf b) { return {_mm256_sub_ps(a.v, b.v)}; }
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
// Lanes 0, 2, 4, ... of the 16 values lo:hi (the even columns of a stride-2 row).
inline Vf even(Vf lo, Vf hi) {
    const __m256 e = _mm256_shuffle_ps(lo.v, hi.v, _MM_SHUFFLE(2, 0, 2, 0));
    return {_mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), _MM_SHUFFLE(3, 1, 2, 0)))};
}

// The lanes l of a load from column c whose column c + l lies in [0, w) (the others are zero,
// and not read): precomputed once per block of a kernel that loads rows with padding.
struct Span {
    __m256i mask;
    bool full;
};
inline Span span(int64_t c, int64_t w) {
    const int64_t lo = c < 0 ? -c : 0, hi = w - c;
    const __m256i l = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const int32_t lo32 = int32_t(lo > 8 ? 8 : lo), hi32 = int32_t(hi < 0 ? 0 : hi > 8 ? 8 : hi);
    const __m256i in = _mm256_andnot_si256(_mm256_cmpgt_epi32(_mm256_set1_epi32(lo32), l),
                                           _mm256_cmpgt_epi32(_mm256_set1_epi32(hi32), l));
    return {in, lo == 0 && hi >= 8};
}
inline Vf load_span(const float* p, const Span& s) {
    return s.full ? load(p) : Vf{_mm256_maskload_ps(p, s.mask)};
}
// Output blocks of the 3x3 depthwise kernel: 4 chains of multiply-adds, which with the 9 taps,
// the bias and the loaded row fit the 16 registers.
constexpr int kDepthwiseBlock = 4;

}  // namespace nse::avx2
