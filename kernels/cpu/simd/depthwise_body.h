// The depthwise convolutions with square 3x3, 5x5 and 7x7 filters of the shared SIMD paths
// (MobileNet's, EfficientNet's and MNASNet's, ConvNeXt's), written against the vector interface
// of vec_<isa>.h (included as gemm_body.h is).
//
// Each input plane is first copied into a padded plane in the calling thread's scratch (zero
// rows above and below, zero columns left and right, slack for the last block; stride 2 keeps
// each padded row's even and odd columns in two halves), so every tap of every output vector is
// one plain load at a fixed offset: no masks, no bounds tests in the inner loop. (Loading
// straight from the input with a mask per edge load, as the AVX-512 kernel does, left GCC a
// compare, a branch and an address computation per multiply-add: 8-10 GFLOP/s on a Zen 3 core.)
// A block of kDepthwiseRows output rows by one vector of columns keeps that many chains of
// multiply-adds going; each input row is loaded once per block and serves every output row it
// is a tap row of. Taps are summed row by row, left to right, then bias and activation, as the
// plane kernels of plane.h sum them. (5x5 and 7x7 had run those plane kernels: EfficientNet-B0's
// 5x5 layers at 3 GFLOP/s.) The 9 taps of a 3x3 filter stay in registers; a larger filter's are
// read from the Taps block in L1 as the multiply-adds' memory operands.

namespace dw_detail {

// The padded plane: `rows` rows of `row_floats`; stride 1: column c of the input at c + pad_w;
// stride 2: padded column c' in the first half (c' even) or the second (odd) at c' / 2, the
// halves `half` floats apart. K: the filter's size.
struct Padded {
    int64_t P, Q;        // output rows and columns (kept here: sh.p() and sh.q() divide)
    int64_t vectors;     // output vectors per row (the last one partly past the plane)
    int64_t rows;        // padded rows, including the slack a last block of rows reads
    int64_t half;        // stride 2: floats per half-row; stride 1: the row
    int64_t row_floats;  // floats per padded row
};

inline Padded padded_layout(const ConvShape& sh) {
    const int64_t S = sh.stride_w, P = sh.p(), Q = sh.q();
    Padded l;
    l.P = P;
    l.Q = Q;
    l.vectors = (Q + kLanes - 1) / kLanes;
    const int64_t row_blocks = (P + kDepthwiseRows - 1) / kDepthwiseRows;
    const int64_t K = sh.r;
    l.rows = std::max(S * (row_blocks * kDepthwiseRows - 1) + K, sh.pad_h + sh.h);
    const int64_t cols = l.vectors * kLanes;  // output columns computed per row
    if (S == 1) {
        l.half = std::max(cols + K - 1, sh.pad_w + sh.w);
        l.row_floats = l.half;
    } else {
        l.half = std::max(cols + (K - 1) / 2, (sh.pad_w + sh.w + 1) / 2);
        l.row_floats = 2 * l.half;
    }
    return l;
}

// Input row `in` (W floats) into padded row `out`, by vectors (rows of 7-14 floats are common:
// a memcpy call or a scalar loop per row cost more than the row's multiply-adds).
inline void copy_row(const ConvShape& sh, const Padded& l, const float* in, float* out) {
    const int64_t W = sh.w;
    if (sh.stride_w == 1) {
        out += sh.pad_w;
        int64_t c = 0;
        for (; c + kLanes <= W; c += kLanes) store(out + c, load(in + c));
        for (; c < W; ++c) out[c] = in[c];
        return;
    }
    // Input column c is padded column c + pad_w: even ones to the first half, odd to the second,
    // at (c + pad_w) / 2.
    float* even_half = out;
    float* odd_half = out + l.half;
    const int64_t h = sh.pad_w / 2;
    float* to_even = sh.pad_w % 2 == 0 ? even_half + h : odd_half + h;     // input column 2k
    float* to_odd = sh.pad_w % 2 == 0 ? odd_half + h : even_half + h + 1;  // and 2k + 1
    int64_t c = 0;
    for (; c + 2 * kLanes <= W; c += 2 * kLanes) {
        const Vf lo = load(in + c), hi = load(in + c + kLanes);
        store(to_even + c / 2, even(lo, hi));
        store(to_odd + c / 2, odd(lo, hi));
    }
    for (; c + 1 < W; c += 2) {
        to_even[c / 2] = in[c];
        to_odd[c / 2] = in[c + 1];
    }
    if (c < W) to_even[c / 2] = in[c];
}

template <int K>
struct Taps {
    Vf w[K * K];  // r-major
    Vf bias;
    Activation act;
};

template <int K>
inline void store_out(const Taps<K>& k, float* out, int64_t n, Vf acc) {
    acc = add(acc, k.bias);
    if (k.act != Activation::None) acc = max(acc, zero());
    if (k.act == Activation::Relu6) acc = min(acc, set1(6.f));
    if (n >= kLanes)
        store(out, acc);
    else
        store_n(out, acc, n);
}

// Output rows [p, p + kDepthwiseRows) of vector j from the padded plane `pad` (rows past the
// plane are computed from the slack rows and not stored).
template <int K, int STRIDE>
inline void block(const Padded& l, const Taps<K>& k, const float* pad, float* y, int64_t p,
                  int64_t j) {
    constexpr int ROWS = kDepthwiseRows;
    const int64_t P = l.P, Q = l.Q, col = j * kLanes;
    Vf acc[ROWS];
    for (int r = 0; r < ROWS; ++r) acc[r] = zero();
    const float* first = pad + STRIDE * p * l.row_floats + col;
#pragma GCC unroll 20
    for (int t = 0; t < STRIDE * (ROWS - 1) + K; ++t) {
        const float* row = first + t * l.row_floats;
#pragma GCC unroll 7
        for (int s = 0; s < K; ++s) {
            // Output column q reads padded column q + s (stride 1) or 2q + s: the first half's
            // q + s / 2 for even s, the second half's for odd s.
            const Vf x =
                STRIDE == 1 ? load(row + s) : load(row + (s % 2 == 1 ? l.half : 0) + s / 2);
#pragma GCC unroll 8
            for (int r = 0; r < ROWS; ++r) {  // output row p + r: tap row t - STRIDE r
                const int tr = t - STRIDE * r;
                if (tr >= 0 && tr < K) acc[r] = fma(k.w[tr * K + s], x, acc[r]);
            }
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < ROWS; ++r)
        if (p + r < P) store_out(k, y + (p + r) * Q + col, Q - col, acc[r]);
}

// Planes [first, last) with a K x K filter.
template <int K>
void planes(const ConvShape& sh, const Padded& l, const float* x, const float* w, const float* b,
            Activation act, float* y, int64_t first, int64_t last, float* scratch) {
    const int64_t P = l.P, Q = l.Q, floats = l.rows * l.row_floats;
    // Two padded planes: the next plane is copied in before this one is computed, so the loads
    // of small planes (7x7, 14x14) do not wait on stores still in flight. Pads and slack are zero
    // for every plane: only the input's own cells are rewritten.
    std::fill_n(scratch, 2 * floats, 0.f);
    auto copy_plane = [&](int64_t plane) {
        const float* xp = x + plane * sh.h * sh.w;
        float* pad = scratch + (plane - first) % 2 * floats;
        for (int64_t ih = 0; ih < sh.h; ++ih)
            copy_row(sh, l, xp + ih * sh.w, pad + (ih + sh.pad_h) * l.row_floats);
    };
    if (first < last) copy_plane(first);
    for (int64_t plane = first; plane < last; ++plane) {
        if (plane + 1 < last) copy_plane(plane + 1);
        const float* pad = scratch + (plane - first) % 2 * floats;
        const int64_t c = plane % sh.c;
        Taps<K> k;
        for (int i = 0; i < K * K; ++i) k.w[i] = set1(w[c * K * K + i]);
        k.bias = set1(b ? b[c] : 0.f);
        k.act = act;
        float* yp = y + plane * P * Q;
        for (int64_t p = 0; p < P; p += kDepthwiseRows)
            for (int64_t j = 0; j < l.vectors; ++j)
                if (sh.stride_h == 1)
                    block<K, 1>(l, k, pad, yp, p, j);
                else
                    block<K, 2>(l, k, pad, yp, p, j);
    }
}

}  // namespace dw_detail

size_t depthwise_scratch_floats(const ConvShape& sh) {
    const dw_detail::Padded l = dw_detail::padded_layout(sh);
    return size_t(2 * l.rows * l.row_floats);
}

void depthwise(const ConvShape& sh, const float* x, const float* w, const float* b, Activation act,
               float* y, int64_t first, int64_t last, float* scratch) {
    using namespace dw_detail;
    const Padded l = padded_layout(sh);
    if (sh.r == 3)
        planes<3>(sh, l, x, w, b, act, y, first, last, scratch);
    else if (sh.r == 5)
        planes<5>(sh, l, x, w, b, act, y, first, last, scratch);
    else
        planes<7>(sh, l, x, w, b, act, y, first, last, scratch);
}
