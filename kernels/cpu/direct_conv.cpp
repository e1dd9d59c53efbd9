#include "kernels/cpu/direct_conv.h"

#include <algorithm>
#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "base/thread_pool.h"
#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/simd/simd_kernels.h"
#include "kernels/cpu/winograd.h"

namespace nse {

namespace {

#if defined(__x86_64__)
// The output channels in 16-wide vectors: for NP neighbouring output pixels at a time, every
// input value under the window is broadcast and multiplied into the vectors of all KB blocks of
// 16 filters' weights (laid out [C][R][S][K] once per call), so a layer with few output channels
// (LeNet's 16, a network's RGB stem) keeps the vector units full where a GEMM of so few rows does
// not. All blocks at once: each broadcast feeds KB multiply-adds (one block at a time, the loads
// outnumbered the multiply-adds and the 64-channel stems ran at a third of the peak); NP x KB
// accumulators (24 for 2-4 blocks), so each weight vector loaded feeds NP of them.
template <int KB, int NP>
__attribute__((target("avx512f"))) void channel_vector_rows(const ConvShape& sh, const float* xp,
                                                            int64_t Hp, int64_t Wp, const float* wt,
                                                            int64_t Kp, const float* b,
                                                            Activation act, float* y, int64_t p0,
                                                            int64_t p1) {
    const int64_t P = sh.p(), Q = sh.q(), PQ = P * Q, R = sh.r, S = sh.s;
    const __m512 zero = _mm512_setzero_ps(), six = _mm512_set1_ps(6.f);
    // A row's outputs for each block of 16 channels, pixel-major, then written out channel by
    // channel (a 16-lane scatter into planes a multiple of 4 KB apart, as at 224x224, hit one L1
    // set).
    alignas(64) float rowbuf[KB][16 * (kMaxRowPixels + NP)];
    __m512 bias[KB];
    for (int kb = 0; kb < KB; ++kb) {
        const int kn = int(std::min<int64_t>(16, sh.k - 16 * kb));
        bias[kb] = b ? _mm512_maskz_loadu_ps(__mmask16((1u << kn) - 1), b + 16 * kb) : zero;
    }
    for (int64_t p = p0; p < p1; ++p) {
        for (int64_t q = 0; q < Q; q += NP) {
            const int px = int(std::min<int64_t>(NP, Q - q));
            __m512 acc[NP][KB];
            for (int i = 0; i < NP; ++i)
                for (int kb = 0; kb < KB; ++kb) acc[i][kb] = bias[kb];
            for (int64_t c = 0; c < sh.c; ++c)
                for (int64_t r = 0; r < R; ++r) {
                    const float* row =
                        xp + (c * Hp + p * sh.stride_h + r * sh.dil_h) * Wp + q * sh.stride_w;
                    const float* wrow = wt + (c * R + r) * S * Kp;
                    for (int64_t s = 0; s < S; ++s) {
                        __m512 wv[KB];
                        for (int kb = 0; kb < KB; ++kb)
                            wv[kb] = _mm512_loadu_ps(wrow + s * Kp + 16 * kb);
                        const float* xs = row + s * sh.dil_w;
                        for (int i = 0; i < NP; ++i) {  // pixels past Q read padding, unused
                            const __m512 xv = _mm512_set1_ps(xs[i * sh.stride_w]);
                            for (int kb = 0; kb < KB; ++kb)
                                acc[i][kb] = _mm512_fmadd_ps(xv, wv[kb], acc[i][kb]);
                        }
                    }
                }
                // Unrolled with no early exit: a loop to px (known at run time) indexed acc at run
                // time and kept it on the stack, stored on every tap.
#pragma GCC unroll 8
            for (int i = 0; i < NP; ++i)
#pragma GCC unroll 4
                for (int kb = 0; kb < KB; ++kb) {
                    if (i >= px) continue;
                    __m512 v = acc[i][kb];
                    if (act != Activation::None) v = _mm512_mask_max_ps(v, 0xFFFF, v, zero);
                    if (act == Activation::Relu6) v = _mm512_mask_min_ps(v, 0xFFFF, v, six);
                    _mm512_store_ps(rowbuf[kb] + (q + i) * 16, v);
                }
        }
        // Out to the channel planes, 16 pixels of a channel per gather (a value at a time, this
        // took a third of VGG16's first layer).
        const __m512i pixel = _mm512_mullo_epi32(
            _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
            _mm512_set1_epi32(16));
        for (int kb = 0; kb < KB; ++kb) {
            const int kn = int(std::min<int64_t>(16, sh.k - 16 * kb));
            // A channel's row at a time: planes a multiple of 4 KB apart (224x224) share L1
            // sets, and 16 rows written side by side evicted each other.
            for (int j = 0; j < kn; ++j) {
                float* out = y + (16 * kb + j) * PQ + p * Q;
                for (int64_t q = 0; q < Q; q += 16) {
                    const __mmask16 m = lane_mask(Q - q);
                    _mm512_mask_storeu_ps(
                        out + q, m,
                        _mm512_mask_i32gather_ps(zero, m, pixel, rowbuf[kb] + q * 16 + j, 4));
                }
            }
        }
    }
}
#endif

// Padded input width: the last group of (at most kMaxPixels) pixels may read up to
// kMaxPixels - 1 pixels past the row.
constexpr int64_t kMaxPixels = 8;
int64_t padded_width(const ConvShape& sh) {
    return std::max(sh.w + 2 * sh.pad_w,
                    (sh.q() + kMaxPixels - 1) * sh.stride_w + (sh.s - 1) * sh.dil_w + 1);
}
int64_t padded_k(const ConvShape& sh) { return (sh.k + 15) / 16 * 16; }

}  // namespace

namespace {
// One group's convolution: its input and output channels, no groups.
ConvShape group_shape(const ConvShape& sh) {
    ConvShape g = sh;
    g.c = sh.c / sh.groups;
    g.k = sh.k / sh.groups;
    g.groups = 1;
    return g;
}
}  // namespace

namespace {

// The shared SIMD paths (AVX2, NEON): the path's kernels, or null elsewhere.
struct SimdDirect {
    int64_t (*panel_rows)();
    int64_t (*channel_width)(int64_t, int64_t, int64_t, int64_t);
    double (*fill)(int64_t, int64_t, int64_t, int64_t);
    void (*channel_weights)(const float*, int64_t, int64_t, float*);
    int64_t (*tile_pixels)();
    void (*split_row)(const float*, int64_t, int64_t, int64_t, int64_t, float*);
    void (*rows)(const DirectConvArgs&, int64_t, int64_t);
};
const SimdDirect* simd_direct() {
#if defined(__x86_64__)
    static const SimdDirect avx2_kernels{
        avx2::direct_conv_panel_rows,  avx2::direct_conv_channel_width,
        avx2::direct_conv_fill,        avx2::direct_conv_channel_weights,
        avx2::direct_conv_tile_pixels, avx2::direct_conv_split_row,
        avx2::direct_conv_rows};
    if (cpu_path() == CpuPath::Avx2) return &avx2_kernels;
#endif
#if defined(__aarch64__)
    static const SimdDirect neon_kernels{
        neon::direct_conv_panel_rows,  neon::direct_conv_channel_width,
        neon::direct_conv_fill,        neon::direct_conv_channel_weights,
        neon::direct_conv_tile_pixels, neon::direct_conv_split_row,
        neon::direct_conv_rows};
    if (cpu_path() == CpuPath::Neon) return &neon_kernels;
#endif
    return nullptr;
}

// The shared kernels' input layout: rows of the padded input split into stride_w phases of wq
// floats; a phase holds every padded column the taps read (the last tile of pixels included).
struct SplitLayout {
    int64_t hp, phases, wq;
};
SplitLayout split_layout(const ConvShape& sh, int64_t tile_pixels) {
    const int64_t S = sh.stride_w, Q = sh.q();
    const int64_t tiles = (Q + tile_pixels - 1) / tile_pixels;
    const int64_t widest_tap = ((sh.s - 1) * sh.dil_w) / S;
    return {sh.h + 2 * sh.pad_h, S,
            std::max(tiles * tile_pixels + widest_tap, (sh.w + 2 * sh.pad_w + S - 1) / S)};
}

// The values per tap a group `g` (group_shape) keeps in channel tiles, or 0 in pixel tiles.
int64_t channel_width(const SimdDirect& k, const ConvShape& g) {
    return k.channel_width(g.k, g.c * g.r * g.s, g.p(), g.q());
}

// A group's weights as the path's kernel reads them: panels of its tile height, or the output
// channels in whole vectors per tap.
int64_t simd_group_floats(const SimdDirect& k, const ConvShape& g) {
    const int64_t crs = g.c * g.r * g.s;
    if (const int64_t width = channel_width(k, g)) return crs * width;
    const int64_t mr = k.panel_rows();
    return (g.k + mr - 1) / mr * mr * crs;
}

}  // namespace

bool direct_conv_applies(const ConvShape& sh) {
    if (sh.depthwise()) return false;
    const ConvShape g = group_shape(sh);
    const CpuPath path = cpu_path();
    const bool simd = path == CpuPath::Avx512 || simd_direct() != nullptr;
    const int64_t crs = g.c * sh.r * sh.s;
    const SimdDirect* k = simd_direct();
    const bool reach =
        crs <= kMaxReduction || (k && crs <= kMaxChannelTileReduction && channel_width(*k, g) != 0);
    return simd && sh.r * sh.s > 1 && g.k <= 64 && reach && sh.q() <= kMaxRowPixels &&
           !winograd_applies(sh);
}

bool direct_conv_channel_tiling(const ConvShape& sh) {
    const SimdDirect* k = simd_direct();
    const ConvShape g = group_shape(sh);
    return k && direct_conv_applies(sh) && channel_width(*k, g) != 0;
}

double direct_conv_lane_fill(const ConvShape& sh) {
    const ConvShape g = group_shape(sh);
    if (const SimdDirect* k = simd_direct()) return k->fill(g.k, g.c * g.r * g.s, g.p(), g.q());
    return double(g.k) / double(padded_k(g));  // AVX-512: 16-wide vectors of channels
}

size_t direct_conv_weight_floats(const ConvShape& sh) {
    const ConvShape g = group_shape(sh);
    if (const SimdDirect* k = simd_direct())
        return static_cast<size_t>(sh.groups * simd_group_floats(*k, g));
    return static_cast<size_t>(sh.groups * g.c * sh.r * sh.s * padded_k(g));
}

void direct_conv_prepare_weights(const ConvShape& sh, const float* w, float* wt) {
    const ConvShape g = group_shape(sh);
    const int64_t CRS = g.c * sh.r * sh.s;
    std::fill_n(wt, direct_conv_weight_floats(sh), 0.f);
    if (const SimdDirect* k = simd_direct()) {
        const int64_t per_group = simd_group_floats(*k, g);
        if (channel_width(*k, g) != 0) {
            for (int64_t gi = 0; gi < sh.groups; ++gi)
                k->channel_weights(w + gi * g.k * CRS, g.k, CRS, wt + gi * per_group);
            return;
        }
        // Per group, panels of MR output channels: wt[panel][i][row] = w[panel MR + row][i].
        const int64_t mr = k->panel_rows();
        for (int64_t gi = 0; gi < sh.groups; ++gi)
            for (int64_t row = 0; row < g.k; ++row)
                for (int64_t i = 0; i < CRS; ++i)
                    wt[gi * per_group + (row / mr) * CRS * mr + i * mr + row % mr] =
                        w[(gi * g.k + row) * CRS + i];
        return;
    }
    const int64_t Kp = padded_k(g);
    for (int64_t gi = 0; gi < sh.groups; ++gi)
        for (int64_t k = 0; k < g.k; ++k)
            for (int64_t i = 0; i < CRS; ++i)
                wt[(gi * CRS + i) * Kp + k] = w[(gi * g.k + k) * CRS + i];
}

size_t direct_conv_workspace_floats(const ConvShape& sh) {
    if (const SimdDirect* k = simd_direct()) {
        const SplitLayout l = split_layout(sh, k->tile_pixels());
        return direct_conv_weight_floats(sh) + static_cast<size_t>(sh.c * l.hp * l.phases * l.wq);
    }
    return direct_conv_weight_floats(sh) +
           static_cast<size_t>(sh.c * (sh.h + 2 * sh.pad_h) * padded_width(sh));
}

namespace {

// The shared SIMD paths: the input split by column phase, then each group's rows in parallel.
void direct_conv_simd(const SimdDirect& k, ThreadPool& pool, const ConvShape& sh, const float* x,
                      const float* b, Activation act, float* y, float* xs, const float* wt) {
    const ConvShape g = group_shape(sh);
    const SplitLayout l = split_layout(sh, k.tile_pixels());
    const int64_t P = sh.p(), Q = sh.q(), G = sh.groups, row_floats = l.phases * l.wq;
    const int64_t per_group = simd_group_floats(k, g);
    for (int64_t n = 0; n < sh.n; ++n) {
        const float* xn = x + n * sh.c * sh.h * sh.w;
        float* yn = y + n * sh.k * P * Q;
        std::fill_n(xs, sh.c * l.hp * row_floats, 0.f);
        for (int64_t c = 0; c < sh.c; ++c)
            for (int64_t i = 0; i < sh.h; ++i)
                k.split_row(xn + (c * sh.h + i) * sh.w, sh.w, sh.pad_w, l.phases, l.wq,
                            xs + (c * l.hp + i + sh.pad_h) * row_floats);
        pool.parallel_for(G * P, sh.flops() / sh.n, [&](int64_t t0, int64_t t1) {
            while (t0 < t1) {
                const int64_t gi = t0 / P, p0 = t0 % P, p1 = std::min(P, p0 + (t1 - t0));
                const DirectConvArgs a{xs + gi * g.c * l.hp * row_floats,
                                       l.hp,
                                       l.phases,
                                       l.wq,
                                       wt + gi * per_group,
                                       b ? b + gi * g.k : nullptr,
                                       act,
                                       yn + gi * g.k * P * Q,
                                       g.c,
                                       g.k,
                                       sh.r,
                                       sh.s,
                                       P,
                                       Q,
                                       sh.stride_h,
                                       sh.dil_h,
                                       sh.dil_w};
                k.rows(a, p0, p1);
                t0 += p1 - p0;
            }
        });
    }
}

}  // namespace

void direct_conv2d_f32_cpu(ThreadPool& pool, const ConvShape& sh, const float* x, const float* w,
                           const float* b, Activation act, float* y, float* workspace,
                           const float* prepared) {
    if (const SimdDirect* k = simd_direct()) {
        if (!prepared) direct_conv_prepare_weights(sh, w, workspace);
        direct_conv_simd(*k, pool, sh, x, b, act, y, workspace + direct_conv_weight_floats(sh),
                         prepared ? prepared : workspace);
        return;
    }
#if defined(__x86_64__)
    const ConvShape g = group_shape(sh);
    const int64_t Kp = padded_k(g), CRS = g.c * sh.r * sh.s, G = sh.groups;
    const int64_t Hp = sh.h + 2 * sh.pad_h, Wp = padded_width(sh), P = sh.p(), Q = sh.q();
    float* xp = workspace + direct_conv_weight_floats(sh);  // [C][Hp][Wp], zero-padded
    if (!prepared) direct_conv_prepare_weights(sh, w, workspace);
    const float* wt = prepared ? prepared : workspace;  // per group [C/G][R][S][Kp]
    for (int64_t n = 0; n < sh.n; ++n) {
        const float* xn = x + n * sh.c * sh.h * sh.w;
        float* yn = y + n * sh.k * P * Q;
        std::fill_n(xp, sh.c * Hp * Wp, 0.f);
        for (int64_t c = 0; c < sh.c; ++c)
            for (int64_t i = 0; i < sh.h; ++i)
                std::copy_n(xn + (c * sh.h + i) * sh.w, sh.w,
                            xp + (c * Hp + i + sh.pad_h) * Wp + sh.pad_w);
        // Work items are (group, output row): a grouped layer's groups (RegNet's 25 of 16
        // channels on 7x7 maps) are shared out as its rows are.
        pool.parallel_for(G * P, sh.flops() / sh.n, [&](int64_t t0, int64_t t1) {
            while (t0 < t1) {
                const int64_t gi = t0 / P, p0 = t0 % P, p1 = std::min(P, p0 + (t1 - t0));
                const float* xg = xp + gi * g.c * Hp * Wp;
                const float* wg = wt + gi * CRS * Kp;
                const float* bg = b ? b + gi * g.k : nullptr;
                float* yg = yn + gi * g.k * P * Q;
                switch (Kp / 16) {  // direct_conv_applies: K / groups <= 64
                    case 1:
                        channel_vector_rows<1, 4>(g, xg, Hp, Wp, wg, Kp, bg, act, yg, p0, p1);
                        break;
                    case 2:
                        channel_vector_rows<2, 8>(g, xg, Hp, Wp, wg, Kp, bg, act, yg, p0, p1);
                        break;
                    case 3:
                        channel_vector_rows<3, 8>(g, xg, Hp, Wp, wg, Kp, bg, act, yg, p0, p1);
                        break;
                    default:
                        channel_vector_rows<4, 6>(g, xg, Hp, Wp, wg, Kp, bg, act, yg, p0, p1);
                }
                t0 += p1 - p0;
            }
        });
    }
#else
    (void)sh, (void)x, (void)w, (void)b, (void)act, (void)y, (void)workspace, (void)prepared;
#endif
}

}  // namespace nse
