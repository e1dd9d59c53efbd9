#include "kernels/cpu/direct_conv.h"

#include "base/thread_pool.h"
#include "kernels/cpu/epilogue.h"
#include "kernels/cpu/plane.h"

namespace nse {

namespace {

// y = sum over channels of plane_fixed (first channel stores, the others add).
template <int R, int S>
__attribute__((always_inline)) inline void plane_sum(const PlaneArgs& first, int64_t channels,
                                                     int64_t plane_floats, int64_t w_stride) {
    PlaneArgs a = first;
    plane_fixed<R, S, false>(a);
    for (int64_t c = 1; c < channels; ++c) {
        a.scratch += plane_floats;
        a.w += w_stride;
        plane_fixed<R, S, true>(a);
    }
}

__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default"))) void sum_3x3_clones(
    const PlaneArgs& a, int64_t channels, int64_t plane_floats, int64_t w_stride) {
    plane_sum<3, 3>(a, channels, plane_floats, w_stride);
}

__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default"))) void sum_5x5_clones(
    const PlaneArgs& a, int64_t channels, int64_t plane_floats, int64_t w_stride) {
    plane_sum<5, 5>(a, channels, plane_floats, w_stride);
}

#if defined(__x86_64__)
template <int R, int S>
__attribute__((target("avx512f"))) void sum_avx512(const PlaneArgs& first, int64_t channels,
                                                   int64_t plane_floats, int64_t w_stride) {
    PlaneArgs a = first;
    plane_fixed_avx512<R, S, false>(a);
    for (int64_t c = 1; c < channels; ++c) {
        a.scratch += plane_floats;
        a.w += w_stride;
        plane_fixed_avx512<R, S, true>(a);
    }
}
#endif

template <int R, int S>
void plane_sum_any(const PlaneArgs& a, int64_t channels, int64_t plane_floats, int64_t w_stride) {
#if defined(__x86_64__)
    if (cpu_has_avx512() && (R == 5 || a.Q < kMaskedRowsBelow))
        return sum_avx512<R, S>(a, channels, plane_floats, w_stride);
#endif
    if (R == 3)
        sum_3x3_clones(a, channels, plane_floats, w_stride);
    else
        sum_5x5_clones(a, channels, plane_floats, w_stride);
}

}  // namespace

bool direct_conv_applies(const ConvShape& sh) {
    const bool k3 = sh.r == 3 && sh.s == 3, k5 = sh.r == 5 && sh.s == 5;
    return sh.groups == 1 && (k3 || k5) && sh.c * sh.k <= 32;
}

size_t direct_conv_workspace_floats(const ConvShape& sh) {
    const PhaseLayout l = plane_layout(sh);
    return static_cast<size_t>(sh.c * l.hp * l.phases * l.phase_w);
}

void direct_conv2d_f32_cpu(const ConvShape& sh, const float* x, const float* w, const float* b,
                           Activation act, float* y, float* workspace) {
    const PhaseLayout l = plane_layout(sh);
    const int64_t P = sh.p(), Q = sh.q(), row_floats = l.phases * l.phase_w;
    const int64_t plane_floats = l.hp * row_floats, taps = sh.r * sh.s;
    for (int64_t n = 0; n < sh.n; ++n) {
        const float* xn = x + n * sh.c * sh.h * sh.w;
        float* yn = y + n * sh.k * P * Q;
        parallel_for(sh.c, kFlopsPerElement * sh.c * plane_floats, [&](int64_t c0, int64_t c1) {
            for (int64_t c = c0; c < c1; ++c)
                fill_phases(sh, l, xn + c * sh.h * sh.w, workspace + c * plane_floats);
        });
        parallel_for(sh.k, sh.flops() / sh.n, [&](int64_t k0, int64_t k1) {
            for (int64_t k = k0; k < k1; ++k) {
                float* yk = yn + k * P * Q;
                const PlaneArgs a{workspace, row_floats, l.phase_w, l.phases, sh.stride_h,
                                  sh.dil_h,  sh.dil_w,   P,         Q,        w + k * sh.c * taps,
                                  yk};
                if (sh.r == 3)
                    plane_sum_any<3, 3>(a, sh.c, plane_floats, taps);
                else
                    plane_sum_any<5, 5>(a, sh.c, plane_floats, taps);
                for (int64_t p = 0; p < P; ++p)
                    bias_activation_row(Q, b ? b[k] : 0.f, act, yk + p * Q);
            }
        });
    }
}

}  // namespace nse
