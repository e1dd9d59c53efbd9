// Plane kernels of the depthwise convolution: an input plane is copied
// once into scratch, zero-padded and split into `stride_w` column phases, so that every kernel
// tap reads a contiguous run of the scratch row and the inner loop is a plain multiply-add over
// the output row, which the compiler vectorises (the callers compile it in AVX-512 / AVX2 / SSE
// clones, chosen at run time from the CPU).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/epilogue.h"
#include "kernels/shapes.h"

namespace nse {

struct PhaseLayout {
    int64_t hp, wp, phases, phase_w;  // padded height/width, column phases, phase width
};

inline PhaseLayout plane_layout(const ConvShape& sh) {
    PhaseLayout l;
    l.hp = sh.h + 2 * sh.pad_h;
    l.wp = sh.w + 2 * sh.pad_w;
    l.phases = sh.stride_w;
    l.phase_w = (l.wp + l.phases - 1) / l.phases;
    return l;
}

// scratch[row][phase][i] = padded(row, i * phases + phase)
inline void fill_phases(const ConvShape& sh, const PhaseLayout& l, const float* plane,
                        float* scratch) {
    const int64_t row_floats = l.phases * l.phase_w;
    for (int64_t row = 0; row < l.hp; ++row) {
        float* out = scratch + row * row_floats;
        const int64_t ih = row - sh.pad_h;
        if (ih < 0 || ih >= sh.h) {
            std::memset(out, 0, row_floats * sizeof(float));
            continue;
        }
        const float* in = plane + ih * sh.w;
        if (l.phases == 1) {
            std::memset(out, 0, sh.pad_w * sizeof(float));
            std::memcpy(out + sh.pad_w, in, sh.w * sizeof(float));
            std::memset(out + sh.pad_w + sh.w, 0, (l.phase_w - sh.pad_w - sh.w) * sizeof(float));
            continue;
        }
        // Column col = i * phases + ph of the padded row goes to phase ph, slot i: input column
        // iw = i * phases + ph - pad_w, zero outside [0, w). The inside is a gather without
        // bounds tests (with one per value, MobileNetV2's stride-2 layers spent most of their
        // time here).
        for (int64_t ph = 0; ph < l.phases; ++ph) {
            float* dst = out + ph * l.phase_w;
            const int64_t first = ph - sh.pad_w;  // input column of slot 0
            const int64_t i0 = std::clamp<int64_t>(
                first < 0 ? (-first + l.phases - 1) / l.phases : 0, 0, l.phase_w);
            const int64_t i1 = std::clamp<int64_t>(
                sh.w - first > 0 ? (sh.w - first + l.phases - 1) / l.phases : 0, i0, l.phase_w);
            std::fill(dst, dst + i0, 0.f);
            std::fill(dst + i1, dst + l.phase_w, 0.f);
            const float* src = in + first + i0 * l.phases;
            if (l.phases == 2)
                copy_stride2(i1 - i0, src, dst + i0);
            else
                for (int64_t i = 0; i < i1 - i0; ++i) dst[i0 + i] = src[i * l.phases];
        }
    }
}

// One plane's output rows for an R x S filter known at compile time: all taps of an output
// element are summed in one pass (in the same order as the row-by-row path, so the results are
// identical), instead of R * S passes over the output row. Small planes (7x7, 14x14) were
// dominated by the per-pass call and loop overhead.
struct PlaneArgs {
    const float* scratch;
    int64_t row_floats, phase_w, phases, stride_h, dil_h, dil_w, P, Q;
    const float* w;
    float* y;
    float bias = 0.f;  // the epilogue, applied by the AVX-512 kernel only
    Activation act = Activation::None;
};

// Where each tap reads, relative to the first scratch row of an output row: computed once per
// plane (the divisions cost more than a small plane's multiply-adds).
template <int R, int S>
inline void tap_offsets(const PlaneArgs& a, int64_t* tap_off) {
    for (int r = 0; r < R; ++r)
        for (int s = 0; s < S; ++s) {
            const int64_t off = s * a.dil_w;
            tap_off[r * S + s] =
                r * a.dil_h * a.row_floats + (off % a.phases) * a.phase_w + off / a.phases;
        }
}

template <int R, int S>
__attribute__((always_inline)) inline void plane_fixed(const PlaneArgs& a) {
    int64_t tap_off[R * S];
    tap_offsets<R, S>(a, tap_off);
    float wk[R * S];
    for (int k = 0; k < R * S; ++k) wk[k] = a.w[k];
    for (int64_t p = 0; p < a.P; ++p) {
        const float* row = a.scratch + p * a.stride_h * a.row_floats;
        const float* tap[R * S];
        for (int k = 0; k < R * S; ++k) tap[k] = row + tap_off[k];
        float* __restrict out = a.y + p * a.Q;
        // The taps are unrolled so that the loop over the row vectorises (GCC leaves a 25-tap
        // loop rolled and scalar otherwise: 5x5 layers ran 10x slower).
        for (int64_t i = 0; i < a.Q; ++i) {
            float acc = 0.f;
#pragma GCC unroll 32
            for (int k = 0; k < R * S; ++k) acc += wk[k] * tap[k][i];
            out[i] = acc;
        }
    }
}

#if defined(__x86_64__)
// plane_fixed with AVX-512 masked vectors: a row of Q outputs is ceil(Q / 16) vectors, the last
// one masked, where the compiler's loop (GCC 12) runs rows shorter than its vector (7x7, 10x10,
// 14x14 planes) entirely in its scalar remainder. Same operations in the same order per output
// as plane_fixed, so the results are identical. It also applies the epilogue (bias, then the
// activation, as bias_activation_row does) before storing: on 7x7 planes the separate pass's
// call per row cost as much as the taps.
template <int R, int S>
__attribute__((target("avx512f"))) inline void plane_fixed_avx512(const PlaneArgs& a) {
    int64_t tap_off[R * S];
    tap_offsets<R, S>(a, tap_off);
    __m512 wk[R * S];
    for (int k = 0; k < R * S; ++k) wk[k] = _mm512_set1_ps(a.w[k]);
    const __m512 bias = _mm512_set1_ps(a.bias), zero = _mm512_setzero_ps(),
                 six = _mm512_set1_ps(6.f);
    for (int64_t p = 0; p < a.P; ++p) {
        const float* row = a.scratch + p * a.stride_h * a.row_floats;
        const float* tap[R * S];
        for (int k = 0; k < R * S; ++k) tap[k] = row + tap_off[k];
        float* out = a.y + p * a.Q;
        for (int64_t i = 0; i < a.Q; i += 16) {
            const __mmask16 m = lane_mask(a.Q - i);
            __m512 acc = _mm512_setzero_ps();
#pragma GCC unroll 32
            for (int k = 0; k < R * S; ++k)
                acc = _mm512_fmadd_ps(wk[k], _mm512_maskz_loadu_ps(m, tap[k] + i), acc);
            acc = _mm512_add_ps(acc, bias);
            // (the masked forms: GCC 12 warns about its own header in the plain ones)
            if (a.act != Activation::None) acc = _mm512_mask_max_ps(acc, 0xFFFF, acc, zero);
            if (a.act == Activation::Relu6) acc = _mm512_mask_min_ps(acc, 0xFFFF, acc, six);
            _mm512_mask_storeu_ps(out + i, m, acc);
        }
    }
}

// 3x3 rows at least this long vectorise well in the compiler's loops (measured: MobileNetV2's
// 112-wide depthwise rows ran 20 % slower in masked 512-bit vectors than in its 256-bit ones).
// 5x5 always take the masked kernel: GCC 12 keeps the 25 tap pointers on the stack and does not
// vectorise that loop at all (a 40x40 plane: 35 us there, 3 us here).
constexpr int64_t kMaskedRowsBelow = 32;

#else
constexpr int64_t kMaskedRowsBelow = 0;
#endif

}  // namespace nse
