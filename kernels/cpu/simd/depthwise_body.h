// The 3x3 depthwise convolution straight from the input planes (padding = lanes a load leaves
// zero), as kernels/cpu/depthwise3x3.cpp does with AVX-512, written against the vector interface
// of vec_<isa>.h (included as gemm_body.h is). A block of output rows by vectors of columns keeps
// kDepthwiseBlock chains of multiply-adds going; each input row is loaded once per block and
// serves every output row it is a tap row of. Stride 2 takes the even columns of two loads per
// tap column (`even`). Taps are summed row by row, left to right, then bias and activation.

namespace dw_detail {

struct Plane {
    const float* x;  // input plane, H x W
    float* y;        // output plane, P x Q
    Vf w[9];         // the taps, r-major
    Vf bias;
    Activation act;
};

inline void store_out(const Plane& pl, float* out, int64_t n, Vf acc) {
    acc = add(acc, pl.bias);
    if (pl.act != Activation::None) acc = max(acc, zero());
    if (pl.act == Activation::Relu6) acc = min(acc, set1(6.f));
    if (n >= kLanes)
        store(out, acc);
    else
        store_n(out, acc, n);
}

// Output rows [p, p + ROWS) by VECS vectors of columns from i (rows and columns past the plane
// are computed but not stored; input rows outside it are skipped).
template <int ROWS, int VECS, int STRIDE>
inline void block(const ConvShape& sh, const Plane& pl, int64_t p, int64_t i) {
    const int64_t H = sh.h, W = sh.w, P = sh.p(), Q = sh.q();
    // Per vector and tap column: the column its first lane loads, and the lanes inside the row
    // (stride 2: two loads, of which the even columns are taken).
    int64_t col[VECS][3];
    Span m[VECS][3][STRIDE];
    for (int v = 0; v < VECS; ++v)
        for (int s = 0; s < 3; ++s) {
            col[v][s] = STRIDE * (i + kLanes * v) - sh.pad_w + s;
            for (int h = 0; h < STRIDE; ++h) m[v][s][h] = span(col[v][s] + h * kLanes, W);
        }
    Vf acc[ROWS][VECS];
    for (int r = 0; r < ROWS; ++r)
        for (int v = 0; v < VECS; ++v) acc[r][v] = zero();
#pragma GCC unroll 20
    for (int t = 0; t < STRIDE * (ROWS - 1) + 3; ++t) {
        const int64_t ih = STRIDE * p - sh.pad_h + t;
        if (ih < 0 || ih >= H) continue;
        const float* row = pl.x + ih * W;
#pragma GCC unroll 4
        for (int v = 0; v < VECS; ++v)
#pragma GCC unroll 3
            for (int s = 0; s < 3; ++s) {
                const float* in = row + col[v][s];
                const Vf x = STRIDE == 1 ? load_span(in, m[v][s][0])
                                         : even(load_span(in, m[v][s][0]),
                                                load_span(in + kLanes, m[v][s][STRIDE - 1]));
#pragma GCC unroll 8
                for (int r = 0; r < ROWS; ++r) {  // output row p + r: tap row t - STRIDE r
                    const int tr = t - STRIDE * r;
                    if (tr >= 0 && tr < 3) acc[r][v] = fma(pl.w[tr * 3 + s], x, acc[r][v]);
                }
            }
    }
#pragma GCC unroll 8
    for (int r = 0; r < ROWS; ++r)
#pragma GCC unroll 4
        for (int v = 0; v < VECS; ++v) {
            const int64_t n = Q - i - kLanes * v;
            if (p + r < P && n > 0)
                store_out(pl, pl.y + (p + r) * Q + i + kLanes * v, n, acc[r][v]);
        }
}

template <int ROWS, int VECS>
inline void plane_blocks(const ConvShape& sh, const Plane& pl) {
    const int64_t P = sh.p(), Q = sh.q();
    for (int64_t p = 0; p < P; p += ROWS)
        for (int64_t i = 0; i < Q; i += kLanes * VECS)
            if (sh.stride_h == 1)
                block<ROWS, VECS, 1>(sh, pl, p, i);
            else
                block<ROWS, VECS, 2>(sh, pl, p, i);
}

}  // namespace dw_detail

void depthwise3x3(const ConvShape& sh, const float* x, const float* w, const float* b,
                  Activation act, float* y, int64_t first, int64_t last) {
    using namespace dw_detail;
    for (int64_t plane = first; plane < last; ++plane) {
        const int64_t c = plane % sh.c;
        Plane pl;
        pl.x = x + plane * sh.h * sh.w;
        pl.y = y + plane * sh.p() * sh.q();
        for (int k = 0; k < 9; ++k) pl.w[k] = set1(w[c * 9 + k]);
        pl.bias = set1(b ? b[c] : 0.f);
        pl.act = act;
        // One vector per row: rows kDepthwiseBlock at a time; wider rows: two vectors by half.
        if (sh.q() <= kLanes)
            plane_blocks<kDepthwiseBlock, 1>(sh, pl);
        else
            plane_blocks<kDepthwiseBlock / 2, 2>(sh, pl);
    }
}
