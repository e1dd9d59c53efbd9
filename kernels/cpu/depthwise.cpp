// Depthwise convolution (groups == C == K). Each thread takes whole channel planes; the shapes
// depthwise_direct.h takes (3x3 on AVX-512; 3x3, 5x5 and 7x7 on AVX2 and NEON; strides 1 and 2)
// run there, the others copy each plane into padded scratch and run the plane kernels of plane.h
// on it (3x3, 5x5 and 7x7 unrolled; other sizes one tap at a time).
#include <algorithm>
#include <cstring>

#include "base/thread_pool.h"
#include "kernels/cpu/conv2d.h"
#include "kernels/cpu/depthwise_direct.h"
#include "kernels/cpu/epilogue.h"
#include "kernels/cpu/isa_clones.h"
#include "kernels/cpu/plane.h"

namespace nse {

namespace {

NSE_ALWAYS_INLINE void axpy_row_body(int64_t n, float a, const float* __restrict x,
                                     float* __restrict y) {
    for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}
NSE_ISA_CLONES(void, axpy_row, (int64_t n, float a, const float* x, float* y), (n, a, x, y))

NSE_ALWAYS_INLINE void plane_3x3_clones_body(const PlaneArgs& a) { plane_fixed<3, 3>(a); }
NSE_ISA_CLONES(void, plane_3x3_clones, (const PlaneArgs& a), (a))

NSE_ALWAYS_INLINE void plane_5x5_clones_body(const PlaneArgs& a) { plane_fixed<5, 5>(a); }
NSE_ISA_CLONES(void, plane_5x5_clones, (const PlaneArgs& a), (a))

NSE_ALWAYS_INLINE void plane_7x7_clones_body(const PlaneArgs& a) { plane_fixed<7, 7>(a); }
NSE_ISA_CLONES(void, plane_7x7_clones, (const PlaneArgs& a), (a))

#if defined(__x86_64__)
// fill_phases for scratch rows of at most 16 floats per phase (planes up to 14 wide at stride 1,
// 30 at stride 2), one masked load or gather per phase and row: on 7x7 and 14x14 planes the
// generic copy's library calls and per-value loop took a third of the layer.
__attribute__((target("avx512f"))) void fill_phases_small(const ConvShape& sh, const PhaseLayout& l,
                                                          const float* plane, float* scratch) {
    const int64_t row_floats = l.phases * l.phase_w;
    const __mmask16 width = __mmask16((1u << l.phase_w) - 1);
    const __m512i lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    const __m512 zero = _mm512_setzero_ps();
    // Per phase: input column of each slot (i * phases + ph - pad_w) and which are inside.
    __m512i idx[4];
    __mmask16 inside[4];
    for (int64_t ph = 0; ph < l.phases; ++ph) {
        idx[ph] = _mm512_add_epi32(_mm512_mullo_epi32(lane, _mm512_set1_epi32(int(l.phases))),
                                   _mm512_set1_epi32(int(ph - sh.pad_w)));
        inside[ph] = width & _mm512_cmpge_epi32_mask(idx[ph], _mm512_setzero_si512()) &
                     _mm512_cmplt_epi32_mask(idx[ph], _mm512_set1_epi32(int(sh.w)));
    }
    for (int64_t row = 0; row < l.hp; ++row) {
        float* out = scratch + row * row_floats;
        const int64_t ih = row - sh.pad_h;
        const bool padding = ih < 0 || ih >= sh.h;
        for (int64_t ph = 0; ph < l.phases; ++ph) {
            __m512 v = zero;
            if (!padding) {  // stride 1: the row's values into the lanes inside, in order
                const float* in = plane + ih * sh.w;
                v = l.phases == 1 ? _mm512_maskz_expandloadu_ps(inside[0], in)
                                  : _mm512_mask_i32gather_ps(zero, inside[ph], idx[ph], in, 4);
            }
            _mm512_mask_storeu_ps(out + ph * l.phase_w, width, v);
        }
    }
}

__attribute__((target("avx512f"))) void plane_3x3_avx512(const PlaneArgs& a) {
    plane_fixed_avx512<3, 3>(a);
}
__attribute__((target("avx512f"))) void plane_5x5_avx512(const PlaneArgs& a) {
    plane_fixed_avx512<5, 5>(a);
}
__attribute__((target("avx512f"))) void plane_7x7_avx512(const PlaneArgs& a) {
    plane_fixed_avx512<7, 7>(a);
}
#endif

// Each returns whether it applied the epilogue (the AVX-512 kernels do).
bool plane_3x3(const PlaneArgs& a) {
#if defined(__x86_64__)
    if (cpu_path() == CpuPath::Avx512 && a.Q < kMaskedRowsBelow) {
        plane_3x3_avx512(a);
        return true;
    }
#endif
    plane_3x3_clones(a);
    return false;
}

bool plane_5x5(const PlaneArgs& a) {
#if defined(__x86_64__)
    if (cpu_path() == CpuPath::Avx512) {  // see kMaskedRowsBelow
        plane_5x5_avx512(a);
        return true;
    }
#endif
    plane_5x5_clones(a);
    return false;
}

// ConvNeXt's 7x7 (with the row-by-row loop, its 49 passes over each output row ran at 3 GFLOP/s).
bool plane_7x7(const PlaneArgs& a) {
#if defined(__x86_64__)
    if (cpu_path() == CpuPath::Avx512) {
        plane_7x7_avx512(a);
        return true;
    }
#endif
    plane_7x7_clones(a);
    return false;
}

}  // namespace

size_t depthwise_workspace_floats(const ConvShape& sh, int threads) {
    if (depthwise_direct_applies(sh)) return size_t(threads) * depthwise_direct_scratch_floats(sh);
    PhaseLayout l = plane_layout(sh);
    return static_cast<size_t>(threads) * l.hp * l.phases * l.phase_w;
}

void depthwise_conv2d_f32_cpu(ThreadPool& pool, const ConvShape& sh, const float* x, const float* w,
                              const float* b, Activation act, float* y, float* workspace) {
    if (depthwise_direct_applies(sh)) {  // MobileNet's, EfficientNet's layers
        // Whole planes per part, each part with its own scratch (one per thread at most); parts
        // start at multiples of 16 planes (AVX2 and NEON run groups of 8 or 4 channels).
        const int64_t planes = sh.n * sh.c;
        const int64_t parts = std::min<int64_t>(pool.size(), planes);
        const size_t scratch = depthwise_direct_scratch_floats(sh);
        auto start = [&](int64_t part) {
            return part == parts ? planes : std::min(planes, (planes * part / parts + 8) / 16 * 16);
        };
        pool.parallel_for(parts, sh.flops(), [&](int64_t part0, int64_t part1) {
            for (int64_t part = part0; part < part1; ++part)
                depthwise_direct_f32_cpu(sh, x, w, b, act, y, start(part), start(part + 1),
                                         scratch ? workspace + part * scratch : nullptr);
        });
        return;
    }
    const PhaseLayout l = plane_layout(sh);
    const int64_t P = sh.p(), Q = sh.q(), planes = sh.n * sh.c;
    const int64_t row_floats = l.phases * l.phase_w;
    const int parts = static_cast<int>(std::min<int64_t>(pool.size(), planes));
#if defined(__x86_64__)
    const bool small_rows = cpu_path() == CpuPath::Avx512 && l.phase_w <= 16 && l.phases <= 4;
#else
    [[maybe_unused]] constexpr bool small_rows = false;
#endif
    pool.parallel_for(
        parts, sh.flops() + kFlopsPerElement * planes * (sh.h * sh.w + P * Q),
        [&](int64_t part0, int64_t part1) {
            for (int64_t part = part0; part < part1; ++part) {
                float* scratch = workspace + part * l.hp * row_floats;
                for (int64_t plane = planes * part / parts; plane < planes * (part + 1) / parts;
                     ++plane) {
                    const int64_t c = plane % sh.c;
#if defined(__x86_64__)
                    if (small_rows)
                        fill_phases_small(sh, l, x + plane * sh.h * sh.w, scratch);
                    else
#endif
                        fill_phases(sh, l, x + plane * sh.h * sh.w, scratch);
                    const float* wc = w + c * sh.r * sh.s;
                    float* yp = y + plane * P * Q;
                    const bool k3 = sh.r == 3 && sh.s == 3, k5 = sh.r == 5 && sh.s == 5,
                               k7 = sh.r == 7 && sh.s == 7;
                    if (k3 || k5 || k7) {
                        const PlaneArgs a{scratch,     row_floats, l.phase_w, l.phases,
                                          sh.stride_h, sh.dil_h,   sh.dil_w,  P,
                                          Q,           wc,         yp,        b ? b[c] : 0.f,
                                          act};
                        if (!(k3 ? plane_3x3(a) : k5 ? plane_5x5(a) : plane_7x7(a)))
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
