#include "kernels/cpu/direct_conv.h"

#include <algorithm>
#include <cstring>

#include "base/error.h"
#include "base/thread_pool.h"
#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/simd/simd_kernels.h"
#include "kernels/cpu/winograd.h"

namespace nse {

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

// The path's kernels (simd/direct_conv_body.h on AVX2, AVX-512 and NEON), or null on the
// generic path.
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
    static const SimdDirect avx512_kernels{
        avx512::direct_conv_panel_rows,  avx512::direct_conv_channel_width,
        avx512::direct_conv_fill,        avx512::direct_conv_channel_weights,
        avx512::direct_conv_tile_pixels, avx512::direct_conv_split_row,
        avx512::direct_conv_rows};
    if (cpu_path() == CpuPath::Avx512) return &avx512_kernels;
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

// The values per tap a group `g` (group_shape) keeps in channel tiles, or 0 in pixel tiles.
int64_t channel_width(const SimdDirect& k, const ConvShape& g) {
    return k.channel_width(g.k, g.c * g.r * g.s, g.p(), g.q());
}

// The kernels' input layout: rows of the padded input split into stride_w phases of wq floats; a
// phase holds every padded column the taps read: in pixel tiles up to the last tile's end, in
// channel tiles (pixels read one by one) up to the row's. (Pixel tiles' slack on a 7x7 map at
// AVX-512's 32 pixels made the copy five times the input, all of it zeroed for every call.)
struct SplitLayout {
    int64_t hp, phases, wq;
};
SplitLayout split_layout(const SimdDirect& k, const ConvShape& sh) {
    const int64_t S = sh.stride_w, Q = sh.q(), tile = k.tile_pixels();
    const int64_t read = channel_width(k, group_shape(sh)) != 0 ? Q : (Q + tile - 1) / tile * tile;
    const int64_t widest_tap = ((sh.s - 1) * sh.dil_w) / S;
    return {sh.h + 2 * sh.pad_h, S, std::max(read + widest_tap, (sh.w + 2 * sh.pad_w + S - 1) / S)};
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
    const SimdDirect* k = simd_direct();
    if (!k) return false;
    const ConvShape g = group_shape(sh);
    const int64_t crs = g.c * sh.r * sh.s;
    const bool reach =
        crs <= kMaxReduction || (crs <= kMaxChannelTileReduction && channel_width(*k, g) != 0);
    return sh.r * sh.s > 1 && g.k <= 64 && reach && sh.q() <= kMaxRowPixels &&
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
    return 0;
}

size_t direct_conv_weight_floats(const ConvShape& sh) {
    const ConvShape g = group_shape(sh);
    if (const SimdDirect* k = simd_direct())
        return static_cast<size_t>(sh.groups * simd_group_floats(*k, g));
    return 0;
}

void direct_conv_prepare_weights(const ConvShape& sh, const float* w, float* wt) {
    const ConvShape g = group_shape(sh);
    const int64_t CRS = g.c * sh.r * sh.s;
    std::fill_n(wt, direct_conv_weight_floats(sh), 0.f);
    const SimdDirect* k = simd_direct();
    if (!k) return;  // (direct_conv_applies is false there)
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
}

size_t direct_conv_workspace_floats(const ConvShape& sh) {
    const SimdDirect* k = simd_direct();
    if (!k) return 0;
    const SplitLayout l = split_layout(*k, sh);
    return direct_conv_weight_floats(sh) + static_cast<size_t>(sh.c * l.hp * l.phases * l.wq);
}

namespace {

// The input split by column phase, then each group's rows in parallel.
void direct_conv_simd(const SimdDirect& k, ThreadPool& pool, const ConvShape& sh, const float* x,
                      const float* b, Activation act, float* y, float* xs, const float* wt) {
    const ConvShape g = group_shape(sh);
    const SplitLayout l = split_layout(k, sh);
    const int64_t P = sh.p(), Q = sh.q(), G = sh.groups, row_floats = l.phases * l.wq;
    const int64_t per_group = simd_group_floats(k, g);
    for (int64_t n = 0; n < sh.n; ++n) {
        const float* xn = x + n * sh.c * sh.h * sh.w;
        float* yn = y + n * sh.k * P * Q;
        // Channels split in parallel too: on one thread this copy was a third of a RegNet
        // layer's time at 2 threads (400 channels on 7x7 maps: 0.106 ms, 0.075 at 2 threads).
        const int64_t plane = l.hp * row_floats;
        pool.parallel_for(
            sh.c, kFlopsPerElement * double(sh.c * plane), [&](int64_t c0, int64_t c1) {
                std::fill_n(xs + c0 * plane, (c1 - c0) * plane, 0.f);
                for (int64_t c = c0; c < c1; ++c)
                    for (int64_t i = 0; i < sh.h; ++i)
                        k.split_row(xn + (c * sh.h + i) * sh.w, sh.w, sh.pad_w, l.phases, l.wq,
                                    xs + c * plane + (i + sh.pad_h) * row_floats);
            });
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
    const SimdDirect* k = simd_direct();
    NSE_CHECK(k && direct_conv_applies(sh), ErrorCode::Internal,
              "direct_conv2d_f32_cpu: a shape direct_conv_applies refuses");
    if (!prepared) direct_conv_prepare_weights(sh, w, workspace);
    direct_conv_simd(*k, pool, sh, x, b, act, y, workspace + direct_conv_weight_floats(sh),
                     prepared ? prepared : workspace);
}

}  // namespace nse
