// Depthwise convolution (groups == C == K). Each thread takes whole channel planes. A plane is
// copied once into scratch, zero-padded and split into `stride_w` column phases, so that every
// kernel tap reads a contiguous run of the scratch row and the inner loop is a plain
// multiply-add over the output row, which the compiler vectorises for AVX-512 / AVX2 / SSE
// (one clone each, chosen at run time from the CPU).
#include <algorithm>
#include <cstring>

#include "base/thread_pool.h"
#include "kernels/cpu/conv2d.h"
#include "kernels/cpu/epilogue.h"

namespace nse {

namespace {

struct PhaseLayout {
    int64_t hp, wp, phases, phase_w;  // padded height/width, column phases, phase width
};

PhaseLayout layout(const ConvShape& sh) {
    PhaseLayout l;
    l.hp = sh.h + 2 * sh.pad_h;
    l.wp = sh.w + 2 * sh.pad_w;
    l.phases = sh.stride_w;
    l.phase_w = (l.wp + l.phases - 1) / l.phases;
    return l;
}

// scratch[row][phase][i] = padded(row, i * phases + phase)
void fill_phases(const ConvShape& sh, const PhaseLayout& l, const float* plane, float* scratch) {
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
        // Column col = i * phases + ph of the padded row goes to phase ph, slot i.
        for (int64_t ph = 0; ph < l.phases; ++ph) {
            float* dst = out + ph * l.phase_w;
            for (int64_t i = 0; i < l.phase_w; ++i) {
                const int64_t iw = i * l.phases + ph - sh.pad_w;
                dst[i] = (iw >= 0 && iw < sh.w) ? in[iw] : 0.f;
            }
        }
    }
}

__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default"))) void axpy_row(
    int64_t n, float a, const float* __restrict x, float* __restrict y) {
    for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
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
};

template <int R, int S>
__attribute__((always_inline)) inline void plane_fixed(const PlaneArgs& a) {
    for (int64_t p = 0; p < a.P; ++p) {
        const float* tap[R * S];
        for (int r = 0; r < R; ++r) {
            const float* row = a.scratch + (p * a.stride_h + r * a.dil_h) * a.row_floats;
            for (int s = 0; s < S; ++s) {
                const int64_t off = s * a.dil_w;
                tap[r * S + s] = row + (off % a.phases) * a.phase_w + off / a.phases;
            }
        }
        float wk[R * S];
        for (int k = 0; k < R * S; ++k) wk[k] = a.w[k];
        float* __restrict out = a.y + p * a.Q;
        for (int64_t i = 0; i < a.Q; ++i) {
            float acc = 0.f;
            for (int k = 0; k < R * S; ++k) acc += wk[k] * tap[k][i];
            out[i] = acc;
        }
    }
}

__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default"))) void plane_3x3(
    const PlaneArgs& a) {
    plane_fixed<3, 3>(a);
}

__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default"))) void plane_5x5(
    const PlaneArgs& a) {
    plane_fixed<5, 5>(a);
}

}  // namespace

size_t depthwise_workspace_floats(const ConvShape& sh, int threads) {
    PhaseLayout l = layout(sh);
    return static_cast<size_t>(threads) * l.hp * l.phases * l.phase_w;
}

void depthwise_conv2d_f32_cpu(const ConvShape& sh, const float* x, const float* w, const float* b,
                              Activation act, float* y, float* workspace) {
    const PhaseLayout l = layout(sh);
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
                                 const PlaneArgs a{scratch,     row_floats, l.phase_w, l.phases,
                                                   sh.stride_h, sh.dil_h,   sh.dil_w,  P,
                                                   Q,           wc,         yp};
                                 if (k3)
                                     plane_3x3(a);
                                 else
                                     plane_5x5(a);
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
