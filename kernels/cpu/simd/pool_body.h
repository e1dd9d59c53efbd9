// Max and average pooling of one plane on the shared SIMD paths, written against the vector
// interface of vec_<isa>.h (load, load_n, store, store_n, max, add, div, set1, even, odd;
// included as gemm_body.h is).
//
// Each output row in two passes, as pool.cpp's portable max body: the window's rows reduced for
// every input column into a row buffer (the three rows of a 3-tall window in one pass), then the
// window's columns of that. The buffer has margins (pool.cpp's kRowPad: -inf for max, 0 for a
// sum) around the row, so the column pass needs no bounds tests and reads whole vectors past the
// row's end; only the stores of a row's last vector are partial. Windows 3 wide of stride 1
// (GoogLeNet's inception branches) and 2, and 2 wide of stride 2 (DenseNet's transitions), have
// vector loops (stride 2 splits two vectors into their even and odd columns); other windows
// take the scalar loop. With the plain loops compiled for the path, rows under 16 columns (7x7
// and 14x14 maps) ran scalar, and average pooling had only a scalar loop per output.
//
// Inputs larger than kPoolStreamedInputBytes (pool.h) come from memory: their window rows are
// reduced one row at a time into the buffer (each input row read as one sequential run), not
// side by side. Read side by side, two or three rows 1-2 KB apart defeated the hardware's
// prefetch: VGG16's first pooling (64 x 224 x 224, 12.8 MB) took 2.4 ms in the network against
// the generic path's 0.93, its second (6.4 MB) 0.76 against 0.47; out of the caches, one row at a
// time took 0.27-0.35 of the side-by-side time, in them 1.7 times as long.

namespace pool_detail {

struct MaxOp {
    static constexpr float kNone = -std::numeric_limits<float>::infinity();  // of no values
    static Vf of(Vf a, Vf b) { return max(a, b); }
    static float of(float a, float b) { return std::max(a, b); }
};
struct SumOp {
    static constexpr float kNone = 0.f;
    static Vf of(Vf a, Vf b) { return add(a, b); }
    static float of(float a, float b) { return a + b; }
};

// rm[0, W) = the window's `rows` rows (from a, `step` floats apart) reduced per column.
template <class Op>
inline void rows_reduce(const float* a, int64_t rows, int64_t step, int64_t W, float* rm,
                        bool streamed) {
    int64_t x = 0;
    if (streamed) {  // one input row at a time
        const int64_t full = W / kLanes * kLanes, n = W - full;
        for (; x < full; x += kLanes) store(rm + x, load(a + x));
        if (n > 0) store_n(rm + full, load_n(a + full, n), n);
        for (int64_t r = 1; r < rows; ++r) {
            const float* row = a + r * step;
            for (x = 0; x < full; x += kLanes) store(rm + x, Op::of(load(rm + x), load(row + x)));
            if (n > 0) store_n(rm + full, Op::of(load_n(rm + full, n), load_n(row + full, n)), n);
        }
        return;
    }
    if (rows == 3) {
        const float *b = a + step, *c = b + step;
        for (; x + kLanes <= W; x += kLanes)
            store(rm + x, Op::of(Op::of(load(a + x), load(b + x)), load(c + x)));
        if (x < W) {
            const int64_t n = W - x;
            store_n(rm + x, Op::of(Op::of(load_n(a + x, n), load_n(b + x, n)), load_n(c + x, n)),
                    n);
        }
        return;
    }
    for (; x < W; x += kLanes) {
        const int64_t n = std::min<int64_t>(kLanes, W - x);
        Vf m = load_n(a + x, n);
        for (int64_t r = 1; r < rows; ++r) m = Op::of(m, load_n(a + r * step + x, n));
        store_n(rm + x, m, n);
    }
}

// Output row o from the row reductions at m (m[q * stride + s]: output q's taps); averages
// divide by hcount * wcount[q] (wcount null for max).
template <class Op>
inline void columns_reduce(const PoolShape& sh, const float* m, float* o, float hcount,
                           const float* wcount) {
    const int64_t Q = sh.q;
    const bool dense = sh.dil_w == 1;
    const bool k3s1 = dense && sh.kw == 3 && sh.stride_w == 1;
    const bool k3s2 = dense && sh.kw == 3 && sh.stride_w == 2;
    const bool k2s2 = dense && sh.kw == 2 && sh.stride_w == 2;
    if (k3s1 || k3s2 || k2s2) {
        for (int64_t q = 0; q < Q; q += kLanes) {
            Vf v;
            if (k3s1) {
                v = Op::of(Op::of(load(m + q), load(m + q + 1)), load(m + q + 2));
            } else {
                const float* t = m + 2 * q;
                const Vf lo = load(t), hi = load(t + kLanes);
                v = Op::of(even(lo, hi), odd(lo, hi));
                if (k3s2) v = Op::of(v, even(load(t + 2), load(t + 2 + kLanes)));
            }
            const int64_t n = std::min<int64_t>(kLanes, Q - q);
            if (wcount) v = div(v, mul(set1(hcount), load_n(wcount + q, n)));
            if (n == kLanes)
                store(o + q, v);
            else
                store_n(o + q, v, n);
        }
        return;
    }
    for (int64_t q = 0; q < Q; ++q) {
        const float* win = m + q * sh.stride_w;
        float v = win[0];
        for (int64_t s = 1; s < sh.kw; ++s) v = Op::of(v, win[s * sh.dil_w]);
        o[q] = wcount ? v / (hcount * wcount[q]) : v;
    }
}

// Rows alternate between the two buffers, and a row's columns are taken one row later: read
// straight after its (partial) stores, at offsets that straddle them, the row reductions waited
// for the stores to drain (store forwarding fails there): 30 % of the time of GoogLeNet's
// poolings in that one load. hcount(p): an average's window rows at output row p.
template <class Op, typename HCount>
inline void pool_plane(const PoolShape& sh, const float* in, float* out, float* rm0, float* rm1,
                       const HCount& hcount, const float* wcount) {
    const int64_t W = sh.w, Q = sh.q;
    const bool streamed =
        sh.n * sh.c * sh.h * sh.w * int64_t(sizeof(float)) > kPoolStreamedInputBytes;
    bool pending = false;  // row p - 1's reductions wait in the other buffer
    for (int64_t p = 0; p <= sh.p; ++p) {
        float* rm = p % 2 == 0 ? rm0 : rm1;
        bool filled = false;
        if (p < sh.p) {
            const int64_t h0 = p * sh.stride_h - sh.pad_h;
            // Rows of the window that fall inside the input.
            int64_t r0 = 0, r1 = sh.kh;
            while (r0 < r1 && h0 + r0 * sh.dil_h < 0) ++r0;
            while (r1 > r0 && h0 + (r1 - 1) * sh.dil_h >= sh.h) --r1;
            if (r1 > r0) {
                rows_reduce<Op>(in + (h0 + r0 * sh.dil_h) * W, r1 - r0, sh.dil_h * W, W, rm,
                                streamed);
                filled = true;
            } else {  // (PyTorch's shapes leave no window without a row of the input)
                std::fill_n(out + p * Q, Q, Op::kNone);
            }
        }
        if (pending)
            columns_reduce<Op>(sh, (p % 2 == 0 ? rm1 : rm0) - sh.pad_w, out + (p - 1) * Q,
                               hcount(p - 1), wcount);
        pending = filled;
    }
}

}  // namespace pool_detail

void max_pool_plane(const PoolShape& sh, const float* in, float* out, float* rm0, float* rm1) {
    using namespace pool_detail;
    pool_plane<MaxOp>(
        sh, in, out, rm0, rm1, [](int64_t) { return 1.f; }, nullptr);
}

void avg_pool_plane(const PoolShape& sh, const float* in, float* out, float* rm0, float* rm1,
                    const float* wcount) {
    using namespace pool_detail;
    auto hcount = [&sh](int64_t p) {
        const int64_t hs = p * sh.stride_h - sh.pad_h;
        const int64_t he = std::min(hs + sh.kh, sh.h + sh.pad_h);
        const int64_t n =
            sh.count_include_pad ? he - hs : std::min(he, sh.h) - std::max<int64_t>(hs, 0);
        return n > 0 ? float(n) : 1.f;  // (no values: a sum of 0, divided by 1 as the loop's 0)
    };
    pool_plane<SumOp>(sh, in, out, rm0, rm1, hcount, wcount);
}
