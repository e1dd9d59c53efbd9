// The AVX-512 forms of the smooth functions (exp, sigmoid, hardsigmoid, GELU), sixteen values
// at a time, shared by the unary kernels (unary.cpp) and the GEMM epilogue that applies GELU as
// it stores a linear layer's output (packed_gemm.cpp). Header-only, each function compiled for
// AVX-512 by its target attribute; include only on x86-64.
#pragma once

#include <immintrin.h>

namespace nse::avx512_math {

// (The masked forms with every lane set throughout: GCC 12 warns about the undefined source
// vector of the plain min, max, roundscale and scalef.)
inline constexpr __mmask16 kAll = 0xFFFF;

// e^v as 2^n * e^r with n = round(v / ln 2) and |r| <= ln 2 / 2: ln 2 split in two parts so r is
// exact, a degree-6 polynomial for e^r (the coefficients of Cephes' expf), scalef for 2^n. v is
// clamped to [-88, 88], where e^v stays inside float's normal range.
__attribute__((target("avx512f"))) inline __m512 exp16(__m512 v) {
    const __m512 zero = _mm512_setzero_ps();
    v = _mm512_mask_max_ps(v, kAll, v, _mm512_set1_ps(-88.0f));
    v = _mm512_mask_min_ps(v, kAll, v, _mm512_set1_ps(88.0f));
    const __m512 n = _mm512_mask_roundscale_ps(
        zero, kAll, _mm512_mul_ps(v, _mm512_set1_ps(1.44269504088896341f)),
        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), v);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.f)));
    return _mm512_mask_scalef_ps(zero, kAll, p, n);
}

// 1 / d for d >= 1 (both callers' denominators): the 14-bit estimate and one Newton step, to
// within 2 ulp. A division's throughput was most of GELU's and SiLU's time.
__attribute__((target("avx512f"))) inline __m512 reciprocal16(__m512 d) {
    const __m512 r = _mm512_maskz_rcp14_ps(kAll, d);
    return _mm512_mul_ps(r, _mm512_fnmadd_ps(d, r, _mm512_set1_ps(2.f)));
}

// e^-x for sigmoid's denominator, cheaper than exp16: 2^t for t = -x log2 e clamped to [-127,
// 127], as 2^n (scalef) times a degree-5 polynomial for 2^f, n = round(t), f = t - n in [-1/2,
// 1/2] (fitted for relative error: 1.1e-7 with float coefficients). Rounding t adds up to
// |t| 2^-25 ln 2 of relative error (3.6e-7 at |x| = 12), where sigmoid(x) is within 6e-6 of 0 or
// 1: below 1e-11 absolute. SiLU ran at 1.27x exp16's throughput on a Zen 4 core (3.1 -> 3.9
// Gvalues/s, L1-resident).
__attribute__((target("avx512f"))) inline __m512 exp_neg_for_sigmoid16(__m512 x) {
    __m512 t = _mm512_mul_ps(x, _mm512_set1_ps(-1.44269504088896341f));
    t = _mm512_mask_max_ps(t, kAll, t, _mm512_set1_ps(-127.f));
    t = _mm512_mask_min_ps(t, kAll, t, _mm512_set1_ps(127.f));
    const __m512 n = _mm512_mask_roundscale_ps(_mm512_setzero_ps(), kAll, t,
                                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m512 f = _mm512_sub_ps(t, n);
    __m512 p = _mm512_set1_ps(1.326472731307149e-3f);
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(9.671512991189957e-3f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.550733581185341e-2f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.4022242426872253e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.931470036506653e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.f));
    return _mm512_mask_scalef_ps(_mm512_setzero_ps(), kAll, p, n);
}

__attribute__((target("avx512f"))) inline __m512 sigmoid16(__m512 x) {
    return reciprocal16(_mm512_add_ps(_mm512_set1_ps(1.f), exp_neg_for_sigmoid16(x)));
}

__attribute__((target("avx512f"))) inline __m512 hardsigmoid16(__m512 x) {
    __m512 v = _mm512_fmadd_ps(x, _mm512_set1_ps(1.f / 6.f), _mm512_set1_ps(0.5f));
    v = _mm512_mask_max_ps(v, kAll, v, _mm512_setzero_ps());
    return _mm512_mask_min_ps(v, kAll, v, _mm512_set1_ps(1.f));
}

// GELU through erfc, which keeps its relative accuracy on both sides: erfc(z) for z = |x|/sqrt 2
// by the Chebyshev-fitted form t exp(-z^2 + P(t)), t = 1 / (1 + z/2) (fractional error below
// 1.2e-7 for every z, Numerical Recipes' erfcc); then x (1 - erfc/2) for x >= 0 and x erfc/2 below.
__attribute__((target("avx512f"))) inline __m512 gelu16(__m512 x) {
    const __m512 one = _mm512_set1_ps(1.f), half = _mm512_set1_ps(0.5f);
    const __m512 z = _mm512_mul_ps(_mm512_abs_ps(x), _mm512_set1_ps(0.70710678118654752f));
    const __m512 t = reciprocal16(_mm512_fmadd_ps(half, z, one));
    static const float c[] = {0.17087277f,  -0.82215223f, 1.48851587f, -1.13520398f, 0.27886807f,
                              -0.18628806f, 0.09678418f,  0.37409196f, 1.00002368f,  -1.26551223f};
    __m512 p = _mm512_set1_ps(c[0]);
    for (int i = 1; i < 10; ++i) p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(c[i]));
    const __m512 e = _mm512_mul_ps(t, exp16(_mm512_fnmadd_ps(z, z, p)));  // erfc(z)
    const __m512 he = _mm512_mul_ps(half, e);
    const __mmask16 neg = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ);
    const __m512 factor = _mm512_mask_mov_ps(_mm512_sub_ps(one, he), neg, he);
    return _mm512_mul_ps(x, factor);
}

}  // namespace nse::avx512_math
