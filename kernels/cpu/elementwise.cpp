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
