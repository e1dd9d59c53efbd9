#include "kernels/cpu/elementwise.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "base/thread_pool.h"
#include "kernels/cpu/cpu_features.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace nse {

namespace {

template <typename F>
void chunked(ThreadPool& pool, int64_t n, const F& fn) {
    if (n < kElementwiseParallelValues) {
        fn(0, n);
        return;
    }
    const int64_t chunks = std::min<int64_t>(pool.size(), n / kElementwiseParallelValues + 1);
    pool.parallel_for(chunks,
                      [&](int64_t c0, int64_t c1) { fn(n * c0 / chunks, n * c1 / chunks); });
}
}  // namespace

void activation_f32_cpu(ThreadPool& pool, int64_t n, Activation act, const float* x, float* y) {
    chunked(pool, n, [&](int64_t i0, int64_t i1) {
        if (act == Activation::Relu) {
            for (int64_t i = i0; i < i1; ++i) y[i] = std::max(x[i], 0.f);
        } else if (act == Activation::Relu6) {
            for (int64_t i = i0; i < i1; ++i) y[i] = std::min(std::max(x[i], 0.f), 6.f);
        } else if (x != y) {
            std::memcpy(y + i0, x + i0, (i1 - i0) * sizeof(float));
        }
    });
}

namespace {

float sigmoid_scalar(float x) { return 1.f / (1.f + std::exp(-x)); }

#if defined(__x86_64__)
// exp(-x) as 2^n * e^r with n = round(-x / ln 2) and |r| <= ln 2 / 2: ln 2 split in two parts
// so r is exact, then a degree-6 polynomial for e^r (the coefficients of Cephes' expf), and
// scalef for 2^n. Inputs are clamped where exp(-x) leaves float's range (sigmoid is 0 or 1
// there to float precision).
__attribute__((target("avx512f"))) __m512 sigmoid16(__m512 x) {
    // (The masked forms with every lane set: GCC 12 warns about the undefined source vector
    // of the plain min, max, roundscale and scalef.)
    const __mmask16 all = 0xFFFF;
    const __m512 zero = _mm512_setzero_ps();
    __m512 v = _mm512_sub_ps(zero, x);
    v = _mm512_mask_max_ps(v, all, v, _mm512_set1_ps(-88.0f));
    v = _mm512_mask_min_ps(v, all, v, _mm512_set1_ps(88.0f));
    const __m512 n =
        _mm512_mask_roundscale_ps(zero, all, _mm512_mul_ps(v, _mm512_set1_ps(1.44269504088896341f)),
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
    const __m512 e = _mm512_mask_scalef_ps(zero, all, p, n);
    const __m512 one = _mm512_set1_ps(1.f);
    return _mm512_div_ps(one, _mm512_add_ps(one, e));
}

__attribute__((target("avx512f"))) void sigmoid_avx512(int64_t i0, int64_t i1, const float* x,
                                                       float* y) {
    int64_t i = i0;
    for (; i + 16 <= i1; i += 16) _mm512_storeu_ps(y + i, sigmoid16(_mm512_loadu_ps(x + i)));
    if (i < i1) {
        const __mmask16 m = lane_mask(i1 - i);
        _mm512_mask_storeu_ps(y + i, m, sigmoid16(_mm512_maskz_loadu_ps(m, x + i)));
    }
}
#endif

}  // namespace

void sigmoid_f32_cpu(ThreadPool& pool, int64_t n, const float* x, float* y) {
    chunked(pool, n, [&](int64_t i0, int64_t i1) {
#if defined(__x86_64__)
        if (cpu_has_avx512()) return sigmoid_avx512(i0, i1, x, y);
#endif
        for (int64_t i = i0; i < i1; ++i) y[i] = sigmoid_scalar(x[i]);
    });
}

void add_f32_cpu(ThreadPool& pool, int64_t n, const float* a, const float* b, Activation act,
                 float* y) {
    chunked(pool, n, [&](int64_t i0, int64_t i1) {
        if (act == Activation::None) {
            for (int64_t i = i0; i < i1; ++i) y[i] = a[i] + b[i];
        } else {
            for (int64_t i = i0; i < i1; ++i) y[i] = activate(act, a[i] + b[i]);
        }
    });
}

void concat_f32_cpu(int64_t outer, int count, const int64_t* inner, const float* const* x,
                    float* y) {
    int64_t total = 0;
    for (int i = 0; i < count; ++i) total += inner[i];
    for (int64_t o = 0; o < outer; ++o) {
        float* dst = y + o * total;
        for (int i = 0; i < count; ++i) {
            std::memcpy(dst, x[i] + o * inner[i], inner[i] * sizeof(float));
            dst += inner[i];
        }
    }
}

void softmax_f32_cpu(int64_t outer, int64_t dim, int64_t inner, const float* x, float* y) {
    for (int64_t o = 0; o < outer; ++o) {
        for (int64_t in = 0; in < inner; ++in) {
            const float* xs = x + o * dim * inner + in;
            float* ys = y + o * dim * inner + in;
            float m = -INFINITY;
            for (int64_t d = 0; d < dim; ++d) m = std::max(m, xs[d * inner]);
            float sum = 0.f;
            for (int64_t d = 0; d < dim; ++d) {
                ys[d * inner] = std::exp(xs[d * inner] - m);
                sum += ys[d * inner];
            }
            const float inv = 1.f / sum;
            for (int64_t d = 0; d < dim; ++d) ys[d * inner] *= inv;
        }
    }
}

}  // namespace nse
