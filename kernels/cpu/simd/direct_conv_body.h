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

}  // namespace direct_detail

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
    }
    for (; c < w; ++c) {
        const int64_t cp = c + pad;
        out[(cp % phases) * wq + cp / phases] = in[c];
    }
}

void direct_conv_rows(const DirectConvArgs& a, int64_t p0, int64_t p1) {
    using namespace direct_detail;
    const int64_t crs = a.c * a.r * a.s;  // <= kMaxReduction (direct_conv_applies)
    int64_t off[kMaxReduction];
    for (int64_t c = 0, t = 0; c < a.c; ++c)
        for (int64_t r = 0; r < a.r; ++r)
            for (int64_t s = 0; s < a.s; ++s, ++t) {
                const int64_t col = s * a.dil_w;
                off[t] =
                    ((c * a.hp + r * a.dil_h) * a.phases + col % a.phases) * a.wq + col / a.phases;
            }
    for (int64_t p = p0; p < p1; ++p)
        for (int64_t q = 0; q < a.q; q += kNr)
            for (int64_t k0 = 0; k0 < a.k; k0 += kGemmRows)
                tile<kGemmRows>(a, a.w + k0 * crs, off, crs, p, q, k0);
}
