// The direct convolution of the shared SIMD paths (direct_conv.h: few output channels, short
// reductions: networks' RGB stems, LeNet), written against the vector interface of vec_<isa>.h
// (included as gemm_body.h is).
//
// An implicit GEMM: the GEMM micro-tile (kGemmRows output channels by kGemmVectors vectors of
// output pixels of one row) over the reduction (c, r, s), with B read straight from the input
// instead of an im2col copy. The input is first laid out padded, each row split into its
// stride_w column phases (direct_conv_split_input), so the pixels q..q+15 of tap (r, s) are one
// contiguous run: phase (s dil_w) % stride_w, from index q + (s dil_w) / stride_w. Outputs go
// straight into the channel planes (vectors along the row), bias and activation as they are
// stored. (im2col + GEMM spent a third of ResNet-18's 7x7 stem writing and re-reading a 7 MB
// column matrix.)
//
// Groups of few output channels on small maps (RegNet's and ResNeXt's grouped 3x3 layers: 8 to 56
// channels per group, 7x7 to 56x56 maps) take a second tiling, channel vectors, where it fills
// more of the multiply-adds: the group's output channels in vectors, a few output pixels anywhere
// in the map (consecutive in the flattened map, so a tile may span rows) each broadcast from the
// input per tap. A 7x7 map filled 7 of the 16 lanes of the pixel tiling's vectors; 16 channels
// filled 16 of 18 rows of its 6-row panels.

namespace direct_detail {

constexpr int64_t kNr = kGemmVectors * kLanes;  // output pixels per micro-tile

// `off` holds each tap's (c, r, s) input offset from the tile's first pixel in its top row: one
// flat loop over the reduction (a stem's 27 taps in three nested loops of 3 spent as many
// instructions on loop control and row addresses as on the multiply-adds).
template <int MR>
inline void tile(const DirectConvArgs& a, const float* ap, const int64_t* off, int64_t crs,
                 int64_t p, int64_t q, int64_t k0) {
    constexpr int NV = kGemmVectors;
    Vf acc[MR][NV];
    for (int i = 0; i < MR; ++i)
        for (int v = 0; v < NV; ++v) acc[i][v] = zero();
    const float* base = a.x + p * a.stride_h * a.phases * a.wq + q;
    for (int64_t t = 0; t < crs; ++t, ap += MR) {
        Vf b[NV];
        for (int v = 0; v < NV; ++v) b[v] = load(base + off[t] + v * kLanes);
#pragma GCC unroll 12
        for (int i = 0; i < MR; ++i) {
            const Vf w = set1(ap[i]);
            for (int v = 0; v < NV; ++v) acc[i][v] = fma(w, b[v], acc[i][v]);
        }
    }
    const Vf lo = zero(), six = set1(6.f);
#pragma GCC unroll 12
    for (int i = 0; i < MR; ++i) {
        if (k0 + i >= a.k) continue;
        float* out = a.y + ((k0 + i) * a.p + p) * a.q + q;
        const Vf bias = set1(a.bias ? a.bias[k0 + i] : 0.f);
        for (int v = 0; v < NV; ++v) {
            const int64_t n = a.q - q - v * kLanes;
            if (n <= 0) break;
            Vf x = add(acc[i][v], bias);
            if (a.act != Activation::None) x = max(x, lo);
            if (a.act == Activation::Relu6) x = min(x, six);
            if (n >= kLanes)
                store(out + v * kLanes, x);
            else
                store_n(out + v * kLanes, x, n);
        }
    }
}

// Channel vectors. A tile holds up to kTileVectors vectors of channels (KV weight vectors, one
// broadcast and NP x KV accumulators in the registers); a wider group runs in chunks of
// kChunkVectors (16 channels), each chunk's weights one stream that stays in L1 over the map
// (32 channels x 288 taps, 36 KB, came from L2 for every tile of two pixels).
constexpr int kTileVectors = kChannelTileVectors;  // vec_<isa>.h
constexpr int kChunkVectors = kChannelChunkVectors;
constexpr int64_t kMaxChannels = 64;  // direct_conv_applies: K / groups <= 64
constexpr int channel_tile_pixels(int kv) {
    return (kVectorRegisters - 1 - kv) / kv > 8 ? 8 : (kVectorRegisters - 1 - kv) / kv;
}

// The vectors of the chunk that starts at vector v of kv: kChunkVectors, or all that are left
// where they fit one tile (no chunk of one vector behind a chunk of two: 5 vectors are 2 + 3).
inline int64_t chunk_vectors(int64_t v, int64_t kv) {
    return kv - v <= kTileVectors ? kv - v : kChunkVectors;
}

// Pixels j0 .. j0 + np of the flattened map (np <= NP; the tile's other pixels repeat the
// first and are dropped), channels k0 .. k0 + kc (kc <= KV kLanes) of the group. Weights: the
// chunk's [c r s][KV kLanes], zero-padded.
// (Not inlined: inside the dispatch around it, GCC spilled the pixels' pointers and read the
// weights from memory at every multiply-add, 1.8x the time.)
template <int KV, int NP>
__attribute__((noinline)) void channel_tile(const DirectConvArgs& a, const float* wp, int64_t k0,
                                            int64_t kc, const int64_t* off, int64_t crs, int64_t j0,
                                            int np) {
    constexpr int KL = KV * kLanes;
    // Each pixel's input at tap 0, the tap's offset its index (one addressing mode per load:
    // offsets from one base took an add per broadcast, and a 1-vector tile ran at half speed).
    const float* px[NP];
    for (int i = 0; i < NP; ++i) {
        const int64_t j = j0 + (i < np ? i : 0), p = j / a.q, q = j % a.q;
        px[i] = a.x + p * a.stride_h * a.phases * a.wq + q;
    }
    Vf acc[NP][KV];
    for (int v = 0; v < KV; ++v) {
        const Vf b = a.bias ? load_n(a.bias + k0 + v * kLanes, kc - v * kLanes) : zero();
        for (int i = 0; i < NP; ++i) acc[i][v] = b;
    }
    for (int64_t t = 0; t < crs; ++t, wp += KL) {
        Vf w[KV];
        for (int v = 0; v < KV; ++v) w[v] = load(wp + v * kLanes);
        const int64_t o = off[t];
#pragma GCC unroll 8
        for (int i = 0; i < NP; ++i) {
            const Vf xv = set1(px[i][o]);
            for (int v = 0; v < KV; ++v) acc[i][v] = fma(xv, w[v], acc[i][v]);
        }
    }
    // Out through a small buffer: channel by channel, np consecutive values of its plane.
    alignas(64) float buf[NP][KL];
    const Vf lo = zero(), six = set1(6.f);
    for (int i = 0; i < NP; ++i)
        for (int v = 0; v < KV; ++v) {
            Vf x = acc[i][v];
            if (a.act != Activation::None) x = max(x, lo);
            if (a.act == Activation::Relu6) x = min(x, six);
            store(buf[i] + v * kLanes, x);
        }
    const int64_t pq = a.p * a.q;
    for (int64_t ch = 0; ch < kc; ++ch) {
        float* out = a.y + (k0 + ch) * pq + j0;
        for (int i = 0; i < np; ++i) out[i] = buf[i][ch];
    }
}

template <int KV>
void channel_chunk(const DirectConvArgs& a, const float* wp, int64_t k0, const int64_t* off,
                   int64_t crs, int64_t j0, int64_t j1) {
    constexpr int NP = channel_tile_pixels(KV);
    const int64_t kc = std::min<int64_t>(KV * kLanes, a.k - k0);
    for (int64_t j = j0; j < j1; j += NP)
        channel_tile<KV, NP>(a, wp, k0, kc, off, crs, j, int(std::min<int64_t>(NP, j1 - j)));
}

// channel_chunk<kv> for a chunk of kv vectors (1 <= kv <= kTileVectors).
template <int KV>
void channel_chunk_of(int64_t kv, const DirectConvArgs& a, const float* wp, int64_t k0,
                      const int64_t* off, int64_t crs, int64_t j0, int64_t j1) {
    if constexpr (KV <= kTileVectors) {
        if (kv == KV) return channel_chunk<KV>(a, wp, k0, off, crs, j0, j1);
        channel_chunk_of<KV + 1>(kv, a, wp, k0, off, crs, j0, j1);
    }
}

// The group's pixels j0 .. j1, chunk by chunk.
inline void channel_rows(const DirectConvArgs& a, const int64_t* off, int64_t crs, int64_t j0,
                         int64_t j1) {
    const int64_t kv = (a.k + kLanes - 1) / kLanes;
    const float* wp = a.w;
    for (int64_t v = 0; v < kv;) {
        const int64_t n = chunk_vectors(v, kv);
        channel_chunk_of<1>(n, a, wp, v * kLanes, off, crs, j0, j1);
        wp += crs * n * kLanes;
        v += n;
    }
}

// The share of each tiling's multiply-adds that make outputs: pixel tiles pay for the last
// panel's missing rows and each row's last part-filled vectors; channel tiles for each chunk's
// map's last part-filled tile and the last part-filled vector of channels.
struct TilingFill {
    double pixels, channels;
};
inline TilingFill tiling_fill(int64_t k, int64_t p, int64_t q) {
    const int64_t kv = (k + kLanes - 1) / kLanes, pq = p * q;
    const double pixels = double(k) / double((k + kGemmRows - 1) / kGemmRows * kGemmRows) *
                          double(q) / double((q + kNr - 1) / kNr * kNr);
    double issued = 0;
    for (int64_t v = 0; v < kv;) {
        const int64_t n = chunk_vectors(v, kv), np = channel_tile_pixels(int(n));
        issued += double(n * kLanes) * double((pq + np - 1) / np * np);
        v += n;
    }
    return {pixels, double(k) * double(pq) / issued};
}

}  // namespace direct_detail

int64_t direct_conv_channel_width(int64_t k, int64_t crs, int64_t p, int64_t q) {
    using namespace direct_detail;
    const TilingFill f = tiling_fill(k, p, q);
    // Channel tiles write their outputs a value at a time, kLanes per broadcast and tap: that
    // costs about 1.5 multiply-adds each (fitted to the stems, 27 to 147 taps, measured at 0.8
    // to 0.93 of the fill's speed; a 363-tap stem lost nothing).
    const double written = f.channels / (1.0 + 1.5 * kLanes / double(crs));
    return k <= kMaxChannels && written > f.pixels ? (k + kLanes - 1) / kLanes * kLanes : 0;
}

double direct_conv_fill(int64_t k, int64_t crs, int64_t p, int64_t q) {
    const direct_detail::TilingFill f = direct_detail::tiling_fill(k, p, q);
    return direct_conv_channel_width(k, crs, p, q) != 0 ? f.channels : f.pixels;
}

void direct_conv_channel_weights(const float* w, int64_t k, int64_t crs, float* out) {
    using namespace direct_detail;
    const int64_t kv = (k + kLanes - 1) / kLanes;
    std::fill_n(out, crs * kv * kLanes, 0.f);
    for (int64_t v = 0; v < kv;) {
        const int64_t n = chunk_vectors(v, kv), width = n * kLanes, k0 = v * kLanes;
        for (int64_t row = k0; row < std::min(k, k0 + width); ++row)
            for (int64_t i = 0; i < crs; ++i) out[i * width + row - k0] = w[row * crs + i];
        out += crs * width;
        v += n;
    }
}

int64_t direct_conv_panel_rows() { return kGemmRows; }
int64_t direct_conv_tile_pixels() { return direct_detail::kNr; }

void direct_conv_split_row(const float* in, int64_t w, int64_t pad, int64_t phases, int64_t wq,
                           float* out) {
    if (phases == 1) {
        std::memcpy(out + pad, in, size_t(w) * sizeof(float));
        return;
    }
    int64_t c = 0;
    if (phases == 2) {
        // Input column c is padded column c + pad: phase (c + pad) % 2, index (c + pad) / 2.
        float* to_even = pad % 2 == 0 ? out + pad / 2 : out + wq + pad / 2;
        float* to_odd = pad % 2 == 0 ? out + wq + pad / 2 : out + pad / 2 + 1;
        for (; c + 2 * kLanes <= w; c += 2 * kLanes) {
            const Vf lo = load(in + c), hi = load(in + c + kLanes);
            store(to_even + c / 2, even(lo, hi));
            store(to_odd + c / 2, odd(lo, hi));
        }
        if (c < w) {  // the last part-vectors (a 14-wide row is nothing else)
            const int64_t n = w - c;
            const Vf lo = load_n(in + c, n), hi = load_n(in + c + kLanes, n - kLanes);
            store_n(to_even + c / 2, even(lo, hi), (n + 1) / 2);
            store_n(to_odd + c / 2, odd(lo, hi), n / 2);
        }
        return;
    }
    // The rest a value at a time, phase and index stepped (a division per value took half of a
    // 14x14 stride-2 layer's time).
    int64_t phase = (c + pad) % phases, at = (c + pad) / phases;
    for (; c < w; ++c) {
        out[phase * wq + at] = in[c];
        if (++phase == phases) phase = 0, ++at;
    }
}

void direct_conv_rows(const DirectConvArgs& a, int64_t p0, int64_t p1) {
    using namespace direct_detail;
    // <= kMaxReduction, or kMaxChannelTileReduction in channel tiles (direct_conv_applies)
    const int64_t crs = a.c * a.r * a.s;
    int64_t off[kMaxChannelTileReduction];
    for (int64_t c = 0, t = 0; c < a.c; ++c)
        for (int64_t r = 0; r < a.r; ++r)
            for (int64_t s = 0; s < a.s; ++s, ++t) {
                const int64_t col = s * a.dil_w;
                off[t] =
                    ((c * a.hp + r * a.dil_h) * a.phases + col % a.phases) * a.wq + col / a.phases;
            }
    if (direct_conv_channel_width(a.k, crs, a.p, a.q) != 0)
        return channel_rows(a, off, crs, p0 * a.q, p1 * a.q);
    // A panel of output channels over all the rows, then the next: each panel's planes are
    // written as kGemmRows sequential streams. Every panel per row wrote all K planes at once, a
    // stream per channel, and a stem's output (1.6-3.2 MB, out of the caches inside a network)
    // waited on memory: MobileNetV2's 3 -> 32 stem 0.75 of the time this way, SqueezeNet's
    // 3 -> 64 0.80 (`nse_bench_conv --cold-output`, 1 thread; AVX2 0.62); the input, re-read per
    // panel, stays in L2 (with the output in the caches too, 1.02-1.06 of the time).
    for (int64_t k0 = 0; k0 < a.k; k0 += kGemmRows)
        for (int64_t p = p0; p < p1; ++p)
            for (int64_t q = 0; q < a.q; q += kNr)
                tile<kGemmRows>(a, a.w + k0 * crs, off, crs, p, q, k0);
}
