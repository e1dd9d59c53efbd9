// Depthwise convolution (groups == C == K). Each thread takes whole channel planes, copies each
// into padded scratch and runs the plane kernels of plane.h on it.
#include <algorithm>
#include <cstring>

#include "base/thread_pool.h"
#include "kernels/cpu/conv2d.h"
#include "kernels/cpu/epilogue.h"
#include "kernels/cpu/plane.h"

namespace nse {

namespace {

__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default"))) void axpy_row(
    int64_t n, float a, const float* __restrict x, float* __restrict y) {
    for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default"))) void plane_3x3_clones(
    const PlaneArgs& a) {
    plane_fixed<3, 3>(a);
}

__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default"))) void plane_5x5_clones(
    const PlaneArgs& a) {
    plane_fixed<5, 5>(a);
}

#if defined(__x86_64__)
__attribute__((target("avx512f"))) void plane_3x3_avx512(const PlaneArgs& a) {
    plane_fixed_avx512<3, 3>(a);
}
__attribute__((target("avx512f"))) void plane_5x5_avx512(const PlaneArgs& a) {
    plane_fixed_avx512<5, 5>(a);
}
#endif

// Each returns whether it applied the epilogue (the AVX-512 kernels do).
bool plane_3x3(const PlaneArgs& a) {
#if defined(__x86_64__)
    if (cpu_has_avx512() && a.Q < kMaskedRowsBelow) {
        plane_3x3_avx512(a);
        return true;
    }
#endif
    plane_3x3_clones(a);
    return false;
}

bool plane_5x5(const PlaneArgs& a) {
#if defined(__x86_64__)
    if (cpu_has_avx512()) {  // see kMaskedRowsBelow
        plane_5x5_avx512(a);
        return true;
    }
#endif
    plane_5x5_clones(a);
    return false;
}

}  // namespace

size_t depthwise_workspace_floats(const ConvShape& sh, int threads) {
    PhaseLayout l = plane_layout(sh);
    return static_cast<size_t>(threads) * l.hp * l.phases * l.phase_w;
}

void depthwise_conv2d_f32_cpu(const ConvShape& sh, const float* x, const float* w, const float* b,
                              Activation act, float* y, float* workspace) {
    const PhaseLayout l = plane_layout(sh);
    const int64_t P = sh.p(), Q = sh.q(), planes = sh.n * sh.c;
    const int64_t row_floats = l.phases * l.phase_w;
    const int parts = static_cast<int>(std::min<int64_t>(num_threads(), planes));
    parallel_for(parts, sh.flops() + kFlopsPerElement * planes * (sh.h * sh.w + P * Q),
                 [&](int64_t part0, int64_t part1) {
                     for (int64_t part = part0; part < part1; ++part) {
                         float* scratch = workspace + part * l.hp * row_floats;
                         for (int64_t plane = planes * part / parts;
                              plane < planes * (part + 1) / parts; ++plane) {
                             const int64_t c = plane % sh.c;
                             fill_phases(sh, l, x + plane * sh.h * sh.w, scratch);
                             const float* wc = w + c * sh.r * sh.s;
                             float* yp = y + plane * P * Q;
                             const bool k3 = sh.r == 3 && sh.s == 3, k5 = sh.r == 5 && sh.s == 5;
                             if (k3 || k5) {
                                 const PlaneArgs a{
                                     scratch,  row_floats,     l.phase_w, l.phases, sh.stride_h,
                                     sh.dil_h, sh.dil_w,       P,         Q,        wc,
                                     yp,       b ? b[c] : 0.f, act};
                                 if (!(k3 ? plane_3x3(a) : plane_5x5(a)))
                                     for (int64_t p = 0; p < P; ++p)
                                         bias_activation_row(Q, b ? b[c] : 0.f, act, yp + p * Q);
                                 continue;
                             }
                             for (int64_t p = 0; p < P; ++p) {
                                 float* out = yp + p * Q;
                                 std::memset(out, 0, Q * sizeof(float));
                                 for (int64_t r = 0; r < sh.r; ++r) {
                                     const float* row =
                                         scratch + (p * sh.stride_h + r * sh.dil_h) * row_floats;
                                     for (int64_t s = 0; s < sh.s; ++s) {
                                         const int64_t off = s * sh.dil_w;
                                         const float* src =
                                             row + (off % l.phases) * l.phase_w + off / l.phases;
                                         axpy_row(Q, wc[r * sh.s + s], src, out);
                                     }
                                 }
                                 bias_activation_row(Q, b ? b[c] : 0.f, act, out);
                             }
                         }
                     }
                 });
}

}  // namespace nse
