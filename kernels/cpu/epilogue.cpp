#include "kernels/cpu/epilogue.h"

#include <algorithm>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/isa_clones.h"

namespace nse {

namespace {
NSE_ALWAYS_INLINE void bias_activation_row_body(int64_t n, float bias, Activation act,
                                                float* __restrict y) {
    if (act == Activation::None) {
        for (int64_t i = 0; i < n; ++i) y[i] += bias;
    } else if (act == Activation::Relu) {
        for (int64_t i = 0; i < n; ++i) y[i] = std::max(y[i] + bias, 0.f);
    } else {
        for (int64_t i = 0; i < n; ++i) y[i] = std::min(std::max(y[i] + bias, 0.f), 6.f);
    }
}

NSE_ALWAYS_INLINE void copy_stride2_body(int64_t n, const float* __restrict in,
                                         float* __restrict out) {
    for (int64_t i = 0; i < n; ++i) out[i] = in[2 * i];
}
}  // namespace

NSE_ISA_CLONES(void, bias_activation_row, (int64_t n, float bias, Activation act, float* y),
               (n, bias, act, y))
NSE_ISA_CLONES(void, copy_stride2, (int64_t n, const float* in, float* out), (n, in, out))

#if defined(__x86_64__)
namespace {
__attribute__((target("avx512f"))) void copy_strided_avx512(int64_t n, const float* in,
                                                            int64_t stride, float* out) {
    const __m512i idx =
        _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                           _mm512_set1_epi32(int32_t(stride)));
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = lane_mask(n - i);
        _mm512_mask_storeu_ps(
            out + i, m, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, idx, in + i * stride, 4));
    }
}
}  // namespace
#endif

void copy_strided(int64_t n, const float* in, int64_t stride, float* out) {
#if defined(__x86_64__)
    if (cpu_path() == CpuPath::Avx512 && stride < (int64_t(1) << 26))
        return copy_strided_avx512(n, in, stride, out);
#endif
    for (int64_t i = 0; i < n; ++i) out[i] = in[i * stride];
}

}  // namespace nse
