#include "kernels/cpu/unary.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "base/thread_pool.h"
#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/elementwise.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace nse {

namespace {

constexpr const char* kNames[] = {"sigmoid", "silu", "hardswish", "hardsigmoid", "gelu", "tanh"};

float sigmoid1(float x) { return 1.f / (1.f + std::exp(-x)); }
float hardsigmoid1(float x) { return std::min(std::max(x * (1.f / 6.f) + 0.5f, 0.f), 1.f); }
float gelu1(float x) { return 0.5f * x * std::erfc(-x * 0.70710678118654752f); }

float apply1(UnaryOp op, float x) {
    switch (op) {
        case UnaryOp::Sigmoid:
            return sigmoid1(x);
        case UnaryOp::Silu:
            return x * sigmoid1(x);
        case UnaryOp::Hardswish:
            return x * hardsigmoid1(x);
        case UnaryOp::Hardsigmoid:
            return hardsigmoid1(x);
        case UnaryOp::Gelu:
            return gelu1(x);
        case UnaryOp::Tanh:
            return std::tanh(x);
    }
    return x;
}

#if defined(__x86_64__)
// (The masked forms with every lane set throughout: GCC 12 warns about the undefined source
// vector of the plain min, max, roundscale and scalef.)
constexpr __mmask16 kAll = 0xFFFF;

// e^v as 2^n * e^r with n = round(v / ln 2) and |r| <= ln 2 / 2: ln 2 split in two parts so r is
// exact, a degree-6 polynomial for e^r (the coefficients of Cephes' expf), scalef for 2^n. v is
// clamped to [-88, 88], where e^v stays inside float's normal range.
__attribute__((target("avx512f"))) __m512 exp16(__m512 v) {
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
__attribute__((target("avx512f"))) __m512 reciprocal16(__m512 d) {
    const __m512 r = _mm512_maskz_rcp14_ps(kAll, d);
    return _mm512_mul_ps(r, _mm512_fnmadd_ps(d, r, _mm512_set1_ps(2.f)));
}

__attribute__((target("avx512f"))) __m512 sigmoid16(__m512 x) {
    const __m512 one = _mm512_set1_ps(1.f);
    return reciprocal16(_mm512_add_ps(one, exp16(_mm512_sub_ps(_mm512_setzero_ps(), x))));
}

__attribute__((target("avx512f"))) __m512 hardsigmoid16(__m512 x) {
    __m512 v = _mm512_fmadd_ps(x, _mm512_set1_ps(1.f / 6.f), _mm512_set1_ps(0.5f));
    v = _mm512_mask_max_ps(v, kAll, v, _mm512_setzero_ps());
    return _mm512_mask_min_ps(v, kAll, v, _mm512_set1_ps(1.f));
}

// GELU through erfc, which keeps its relative accuracy on both sides: erfc(z) for z = |x|/sqrt 2
// by the Chebyshev-fitted form t exp(-z^2 + P(t)), t = 1 / (1 + z/2) (fractional error below
// 1.2e-7 for every z, Numerical Recipes' erfcc); then x (1 - erfc/2) for x >= 0 and x erfc/2 below.
__attribute__((target("avx512f"))) __m512 gelu16(__m512 x) {
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

template <UnaryOp kOp>
__attribute__((target("avx512f"))) __m512 apply16(__m512 x) {
    if constexpr (kOp == UnaryOp::Sigmoid) return sigmoid16(x);
    if constexpr (kOp == UnaryOp::Silu) return _mm512_mul_ps(x, sigmoid16(x));
    if constexpr (kOp == UnaryOp::Hardswish) return _mm512_mul_ps(x, hardsigmoid16(x));
    if constexpr (kOp == UnaryOp::Hardsigmoid) return hardsigmoid16(x);
    if constexpr (kOp == UnaryOp::Gelu) return gelu16(x);
    return x;
}

template <UnaryOp kOp>
__attribute__((target("avx512f"))) void run_avx512(int64_t i0, int64_t i1, const float* x,
                                                   float* y) {
    int64_t i = i0;
    for (; i + 16 <= i1; i += 16) _mm512_storeu_ps(y + i, apply16<kOp>(_mm512_loadu_ps(x + i)));
    if (i < i1) {
        const __mmask16 m = lane_mask(i1 - i);
        _mm512_mask_storeu_ps(y + i, m, apply16<kOp>(_mm512_maskz_loadu_ps(m, x + i)));
    }
}

void unary_avx512(UnaryOp op, int64_t i0, int64_t i1, const float* x, float* y) {
    switch (op) {
        case UnaryOp::Sigmoid:
            return run_avx512<UnaryOp::Sigmoid>(i0, i1, x, y);
        case UnaryOp::Silu:
            return run_avx512<UnaryOp::Silu>(i0, i1, x, y);
        case UnaryOp::Hardswish:
            return run_avx512<UnaryOp::Hardswish>(i0, i1, x, y);
        case UnaryOp::Hardsigmoid:
            return run_avx512<UnaryOp::Hardsigmoid>(i0, i1, x, y);
        case UnaryOp::Gelu:
            return run_avx512<UnaryOp::Gelu>(i0, i1, x, y);
        case UnaryOp::Tanh:
            return unary_f32_portable(i1 - i0, op, x + i0, y + i0);
    }
}
#endif

}  // namespace

const char* unary_name(UnaryOp op) { return kNames[int(op)]; }

bool unary_from_name(const char* name, UnaryOp* op) {
    for (int i = 0; i < int(std::size(kNames)); ++i)
        if (std::strcmp(name, kNames[i]) == 0) {
            *op = UnaryOp(i);
            return true;
        }
    return false;
}

void unary_f32_portable(int64_t n, UnaryOp op, const float* x, float* y) {
    for (int64_t i = 0; i < n; ++i) y[i] = apply1(op, x[i]);
}

void unary_f32_cpu(ThreadPool& pool, int64_t n, UnaryOp op, const float* x, float* y) {
    auto run = [&](int64_t i0, int64_t i1) {
#if defined(__x86_64__)
        if (cpu_path() == CpuPath::Avx512) return unary_avx512(op, i0, i1, x, y);
#endif
        unary_f32_portable(i1 - i0, op, x + i0, y + i0);
    };
    if (n < kElementwiseParallelValues) return run(0, n);
    const int64_t chunks = std::min<int64_t>(pool.size(), n / kElementwiseParallelValues + 1);
    pool.parallel_for(chunks,
                      [&](int64_t c0, int64_t c1) { run(n * c0 / chunks, n * c1 / chunks); });
}

}  // namespace nse
