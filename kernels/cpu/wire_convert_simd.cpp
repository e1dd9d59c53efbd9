#include "kernels/cpu/wire_convert_simd.h"

#include <algorithm>
#include <cmath>

#include "kernels/cpu/wire_convert.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define NSE_WIRE_SIMD __attribute__((target("avx2,fma,f16c")))
#elif defined(__aarch64__)
#include <arm_neon.h>
#define NSE_WIRE_SIMD
#endif

namespace nse::wire_simd {

#if defined(__x86_64__)

NSE_WIRE_SIMD void f32_to_f16(int64_t n, const float* x, uint16_t* y) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128(
            reinterpret_cast<__m128i*>(y + i),
            _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    f32_to_f16_portable(n - i, x + i, y + i);
}

NSE_WIRE_SIMD void f16_to_f32(int64_t n, const uint16_t* x, float* y) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i,
                         _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i))));
    f16_to_f32_portable(n - i, x + i, y + i);
}

NSE_WIRE_SIMD void minmax_f32(int64_t n, const float* x, float* lo, float* hi) {
    __m256 vlo = _mm256_set1_ps(INFINITY), vhi = _mm256_set1_ps(-INFINITY);
    __m256 nan = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        nan = _mm256_or_ps(nan, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
        vlo = _mm256_min_ps(v, vlo);  // the second operand where v is NaN
        vhi = _mm256_max_ps(v, vhi);
    }
    float a[8], b[8], rlo = INFINITY, rhi = -INFINITY;
    _mm256_storeu_ps(a, vlo);
    _mm256_storeu_ps(b, vhi);
    for (int l = 0; l < 8; ++l) rlo = std::min(rlo, a[l]), rhi = std::max(rhi, b[l]);
    bool any_nan = _mm256_movemask_ps(nan) != 0;
    if (i < n) {
        float tlo, thi;
        minmax_f32_portable(n - i, x + i, &tlo, &thi);
        any_nan |= std::isnan(tlo);
        rlo = std::min(rlo, tlo), rhi = std::max(rhi, thi);
    }
    *lo = any_nan ? NAN : rlo;
    *hi = any_nan ? NAN : rhi;
}

NSE_WIRE_SIMD void quantize_u8(int64_t n, const float* x, float lo, float inv, uint8_t* q) {
    const __m256 vlo = _mm256_set1_ps(lo), vinv = _mm256_set1_ps(inv);
    const __m256 zero = _mm256_setzero_ps(), top = _mm256_set1_ps(255.f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 t = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), vlo), vinv);
        // max(t, 0) gives 0 for NaN (the second operand), as the portable loop.
        const __m256i k = _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(t, zero), top));
        const __m128i w =
            _mm_packus_epi32(_mm256_castsi256_si128(k), _mm256_extracti128_si256(k, 1));
        _mm_storel_epi64(reinterpret_cast<__m128i*>(q + i), _mm_packus_epi16(w, w));
    }
    quantize_u8_portable(n - i, x + i, lo, inv, q + i);
}

NSE_WIRE_SIMD void dequantize_u8(int64_t n, const uint8_t* q, float lo, float scale, float* x) {
    const __m256 vlo = _mm256_set1_ps(lo), vs = _mm256_set1_ps(scale);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256i k =
            _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(q + i)));
        _mm256_storeu_ps(x + i, _mm256_fmadd_ps(_mm256_cvtepi32_ps(k), vs, vlo));
    }
    dequantize_u8_portable(n - i, q + i, lo, scale, x + i);
}

#elif defined(__aarch64__)

void f32_to_f16(int64_t n, const float* x, uint16_t* y) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1_u16(y + i, vreinterpret_u16_f16(vcvt_f16_f32(vld1q_f32(x + i))));
    f32_to_f16_portable(n - i, x + i, y + i);
}

void f16_to_f32(int64_t n, const uint16_t* x, float* y) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(y + i, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(x + i))));
    f16_to_f32_portable(n - i, x + i, y + i);
}

void minmax_f32(int64_t n, const float* x, float* lo, float* hi) {
    float32x4_t vlo = vdupq_n_f32(INFINITY), vhi = vdupq_n_f32(-INFINITY);
    uint32x4_t ok = vdupq_n_u32(~0u);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const float32x4_t v = vld1q_f32(x + i);
        ok = vandq_u32(ok, vceqq_f32(v, v));  // false for NaN
        vlo = vminnmq_f32(vlo, v);
        vhi = vmaxnmq_f32(vhi, v);
    }
    float rlo = vminvq_f32(vlo), rhi = vmaxvq_f32(vhi);
    bool any_nan = vminvq_u32(ok) == 0;
    if (i < n) {
        float tlo, thi;
        minmax_f32_portable(n - i, x + i, &tlo, &thi);
        any_nan |= std::isnan(tlo);
        rlo = std::min(rlo, tlo), rhi = std::max(rhi, thi);
    }
    *lo = any_nan ? NAN : rlo;
    *hi = any_nan ? NAN : rhi;
}

void quantize_u8(int64_t n, const float* x, float lo, float inv, uint8_t* q) {
    const float32x4_t vlo = vdupq_n_f32(lo), vinv = vdupq_n_f32(inv);
    const float32x4_t zero = vdupq_n_f32(0.f), top = vdupq_n_f32(255.f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint16x4_t h[2];
        for (int j = 0; j < 2; ++j) {
            const float32x4_t t = vmulq_f32(vsubq_f32(vld1q_f32(x + i + 4 * j), vlo), vinv);
            // maxnm(t, 0) is 0 for NaN, as the portable loop; round to nearest, ties to even.
            h[j] = vqmovun_s32(vcvtnq_s32_f32(vminq_f32(vmaxnmq_f32(t, zero), top)));
        }
        vst1_u8(q + i, vqmovn_u16(vcombine_u16(h[0], h[1])));
    }
    quantize_u8_portable(n - i, x + i, lo, inv, q + i);
}

void dequantize_u8(int64_t n, const uint8_t* q, float lo, float scale, float* x) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const uint16x8_t w = vmovl_u8(vld1_u8(q + i));
        vst1q_f32(x + i,
                  vfmaq_n_f32(vdupq_n_f32(lo), vcvtq_f32_u32(vmovl_u16(vget_low_u16(w))), scale));
        vst1q_f32(x + i + 4,
                  vfmaq_n_f32(vdupq_n_f32(lo), vcvtq_f32_u32(vmovl_u16(vget_high_u16(w))), scale));
    }
    dequantize_u8_portable(n - i, q + i, lo, scale, x + i);
}

#endif

}  // namespace nse::wire_simd
