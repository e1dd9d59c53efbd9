#include "kernels/cpu/wire_convert.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/wire_convert_simd.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace nse {

namespace {

uint32_t bits_of(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
}
float float_of(uint32_t u) {
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

uint16_t half_of(float f) {
    const uint32_t x = bits_of(f);
    const uint16_t sign = uint16_t((x >> 16) & 0x8000);
    const uint32_t ax = x & 0x7fffffff;
    if (ax > 0x7f800000) return uint16_t(sign | 0x7e00 | ((ax >> 13) & 0x3ff));  // NaN, quieted
    if (ax >= 0x477ff000) return uint16_t(sign | 0x7c00);  // rounds past 65504: infinity
    if (ax < 0x38800000) {
        // Below 2^-14: a subnormal half, the value in units of 2^-24 (a power-of-two scaling,
        // exact), rounded to nearest even; 1024 is the smallest normal's bits, as it should be.
        return uint16_t(sign | uint16_t(std::nearbyint(float_of(ax) * 16777216.0f)));
    }
    uint32_t h = ((((ax >> 23) - 127 + 15)) << 10) | ((ax >> 13) & 0x3ff);
    const uint32_t rest = ax & 0x1fff;
    if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) ++h;  // a carry into the exponent is right
    return uint16_t(sign | h);
}

float float_of_half(uint16_t h) {
    const uint32_t sign = uint32_t(h & 0x8000) << 16;
    const uint32_t e = (h >> 10) & 0x1f, m = h & 0x3ff;
    if (e == 0) {  // zero or subnormal: m * 2^-24, exact in float
        const float v = float(m) * (1.0f / 16777216.0f);
        return float_of(sign | bits_of(v));
    }
    if (e == 31) return float_of(sign | 0x7f800000 | (m ? 0x400000 : 0) | (m << 13));  // NaN: quiet
    return float_of(sign | ((e - 15 + 127) << 23) | (m << 13));
}

uint8_t quantize1(float x, float lo, float inv) {
    const float t = (x - lo) * inv;
    if (!(t > 0)) return 0;  // also NaN
    if (t >= 255) return 255;
    return uint8_t(std::nearbyint(t));
}

#if defined(__x86_64__)
// (Masked forms with every lane set: GCC 12 warns about the undefined source vector of the plain
// conversions, min and max.)
constexpr __mmask16 kAll = 0xFFFF;

__attribute__((target("avx512f"))) void f32_to_f16_avx512(int64_t n, const float* x, uint16_t* y) {
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = lane_mask(n - i);
        const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        const __m256i h =
            _mm512_maskz_cvtps_ph(kAll, v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        if (m == 0xFFFF) {
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(y + i), h);
        } else {
            alignas(32) uint16_t tmp[16];
            _mm256_store_si256(reinterpret_cast<__m256i*>(tmp), h);
            std::memcpy(y + i, tmp, size_t(n - i) * 2);
        }
    }
}

__attribute__((target("avx512f"))) void f16_to_f32_avx512(int64_t n, const uint16_t* x, float* y) {
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = lane_mask(n - i);
        __m256i h;
        if (m == 0xFFFF) {
            h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i));
        } else {
            alignas(32) uint16_t tmp[16] = {};
            std::memcpy(tmp, x + i, size_t(n - i) * 2);
            h = _mm256_load_si256(reinterpret_cast<const __m256i*>(tmp));
        }
        _mm512_mask_storeu_ps(y + i, m, _mm512_maskz_cvtph_ps(kAll, h));
    }
}

__attribute__((target("avx512f"))) void minmax_f32_avx512(int64_t n, const float* x, float* lo,
                                                          float* hi) {
    __m512 vlo = _mm512_set1_ps(INFINITY), vhi = _mm512_set1_ps(-INFINITY);
    __mmask16 nan = 0;
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = lane_mask(n - i);
        const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        nan |= _mm512_mask_cmp_ps_mask(m, v, v, _CMP_UNORD_Q);
        vlo = _mm512_mask_min_ps(vlo, m, v, vlo);
        vhi = _mm512_mask_max_ps(vhi, m, v, vhi);
    }
    alignas(64) float a[16], b[16];
    _mm512_store_ps(a, vlo);
    _mm512_store_ps(b, vhi);
    *lo = nan ? NAN : *std::min_element(a, a + 16);
    *hi = nan ? NAN : *std::max_element(b, b + 16);
}

__attribute__((target("avx512f"))) void quantize_u8_avx512(int64_t n, const float* x, float lo,
                                                           float inv, uint8_t* q) {
    const __m512 vlo = _mm512_set1_ps(lo), vinv = _mm512_set1_ps(inv);
    const __m512 zero = _mm512_setzero_ps(), top = _mm512_set1_ps(255.f);
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = lane_mask(n - i);
        const __m512 t = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), vlo), vinv);
        // max(t, 0) gives 0 for NaN (the second operand), as the portable loop.
        const __m512 c = _mm512_mask_min_ps(t, kAll, _mm512_mask_max_ps(t, kAll, t, zero), top);
        const __m512i k =
            _mm512_maskz_cvt_roundps_epi32(kAll, c, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm512_mask_cvtepi32_storeu_epi8(q + i, m, k);
    }
}

__attribute__((target("avx512f"))) void dequantize_u8_avx512(int64_t n, const uint8_t* q, float lo,
                                                             float scale, float* x) {
    const __m512 vlo = _mm512_set1_ps(lo), vs = _mm512_set1_ps(scale);
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = lane_mask(n - i);
        __m128i b;
        if (m == 0xFFFF) {
            b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q + i));
        } else {
            alignas(16) uint8_t tmp[16] = {};
            std::memcpy(tmp, q + i, size_t(n - i));
            b = _mm_load_si128(reinterpret_cast<const __m128i*>(tmp));
        }
        const __m512 f = _mm512_maskz_cvtepi32_ps(kAll, _mm512_maskz_cvtepu8_epi32(kAll, b));
        _mm512_mask_storeu_ps(x + i, m, _mm512_fmadd_ps(f, vs, vlo));
    }
}
#endif

}  // namespace

void f32_to_f16_portable(int64_t n, const float* x, uint16_t* y) {
    for (int64_t i = 0; i < n; ++i) y[i] = half_of(x[i]);
}
void f16_to_f32_portable(int64_t n, const uint16_t* x, float* y) {
    for (int64_t i = 0; i < n; ++i) y[i] = float_of_half(x[i]);
}
void minmax_f32_portable(int64_t n, const float* x, float* lo, float* hi) {
    float a = INFINITY, b = -INFINITY;
    bool nan = false;
    for (int64_t i = 0; i < n; ++i) {
        nan |= std::isnan(x[i]);
        if (x[i] < a) a = x[i];
        if (x[i] > b) b = x[i];
    }
    *lo = nan ? NAN : a;
    *hi = nan ? NAN : b;
}
void quantize_u8_portable(int64_t n, const float* x, float lo, float inv_scale, uint8_t* q) {
    for (int64_t i = 0; i < n; ++i) q[i] = quantize1(x[i], lo, inv_scale);
}
void dequantize_u8_portable(int64_t n, const uint8_t* q, float lo, float scale, float* x) {
    for (int64_t i = 0; i < n; ++i) x[i] = std::fma(float(q[i]), scale, lo);
}

// The widest path the CPU runs (cpu_path(), so NSE_CPU can force each), else the portable loop.
#if defined(__x86_64__)
namespace {
bool avx2_halves() {
    static const bool f16c = __builtin_cpu_supports("f16c");
    return f16c && cpu_path() == CpuPath::Avx2;
}
}  // namespace
#define NSE_DISPATCH(name, portable, ...)                         \
    (cpu_path() == CpuPath::Avx512 ? name##_avx512(__VA_ARGS__)   \
     : cpu_path() == CpuPath::Avx2 ? wire_simd::name(__VA_ARGS__) \
                                   : portable(__VA_ARGS__))
#define NSE_DISPATCH_HALF(name, portable, ...)                    \
    (cpu_path() == CpuPath::Avx512 ? name##_avx512(__VA_ARGS__)   \
     : avx2_halves()               ? wire_simd::name(__VA_ARGS__) \
                                   : portable(__VA_ARGS__))
#elif defined(__aarch64__)
#define NSE_DISPATCH(name, portable, ...) \
    (cpu_path() == CpuPath::Neon ? wire_simd::name(__VA_ARGS__) : portable(__VA_ARGS__))
#define NSE_DISPATCH_HALF NSE_DISPATCH
#else
#define NSE_DISPATCH(name, portable, ...) portable(__VA_ARGS__)
#define NSE_DISPATCH_HALF NSE_DISPATCH
#endif

void f32_to_f16(int64_t n, const float* x, uint16_t* y) {
    NSE_DISPATCH_HALF(f32_to_f16, f32_to_f16_portable, n, x, y);
}
void f16_to_f32(int64_t n, const uint16_t* x, float* y) {
    NSE_DISPATCH_HALF(f16_to_f32, f16_to_f32_portable, n, x, y);
}
void minmax_f32(int64_t n, const float* x, float* lo, float* hi) {
    NSE_DISPATCH(minmax_f32, minmax_f32_portable, n, x, lo, hi);
}
void quantize_u8(int64_t n, const float* x, float lo, float inv_scale, uint8_t* q) {
    NSE_DISPATCH(quantize_u8, quantize_u8_portable, n, x, lo, inv_scale, q);
}
void dequantize_u8(int64_t n, const uint8_t* q, float lo, float scale, float* x) {
    NSE_DISPATCH(dequantize_u8, dequantize_u8_portable, n, q, lo, scale, x);
}

}  // namespace nse
