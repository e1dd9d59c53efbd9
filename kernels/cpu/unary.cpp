#include "kernels/cpu/unary.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "base/thread_pool.h"
#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/simd/simd_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include "kernels/cpu/smooth_avx512.h"
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
using namespace avx512_math;

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
        if (cpu_path() == CpuPath::Avx2 && avx2::unary(op, i1 - i0, x + i0, y + i0)) return;
#endif
#if defined(__aarch64__)
        if (cpu_path() == CpuPath::Neon && neon::unary(op, i1 - i0, x + i0, y + i0)) return;
#endif
        unary_f32_portable(i1 - i0, op, x + i0, y + i0);
    };
    if (n < kElementwiseParallelValues) return run(0, n);
    const int64_t chunks = std::min<int64_t>(pool.size(), n / kElementwiseParallelValues + 1);
    pool.parallel_for(chunks,
                      [&](int64_t c0, int64_t c1) { run(n * c0 / chunks, n * c1 / chunks); });
}

}  // namespace nse
