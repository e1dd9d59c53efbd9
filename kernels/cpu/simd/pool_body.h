// Max pooling of one plane on the shared SIMD paths, written against the vector interface of
// vec_<isa>.h (load, load_n, store, store_n, max, even, odd; included as gemm_body.h is).
//
// Each output row in two passes, as pool.cpp's portable body: the maximum over the window's rows
// for every input column into the row buffer rm (the three rows of a 3-tall window in one pass),
// then over the window's columns of that. rm has -inf margins (pool.cpp's kRowPad) around the
// row, so the column pass needs no bounds tests and reads whole vectors past the row's end; only
// the stores of a row's last vector are partial. Windows 3 wide of stride 1 (GoogLeNet's
// inception branches) and 2, and 2 wide of stride 2, have vector loops (stride 2 splits two
// vectors into their even and odd columns); other windows take the scalar loop. With the plain
// loops compiled for the path, rows under 16 columns (7x7 and 14x14 maps) ran scalar.

namespace pool_detail {

// rm[0, W) = max over the window's rows [r0, r1) (row r at in + r * dil_h * W, r0 = 0 here).
inline void rows_max(const float* a, int64_t rows, int64_t step, int64_t W, float* rm) {
    int64_t x = 0;
    if (rows == 3) {
        const float *b = a + step, *c = b + step;
        for (; x + kLanes <= W; x += kLanes)
            store(rm + x, max(max(load(a + x), load(b + x)), load(c + x)));
        if (x < W) {
            const int64_t n = W - x;
            store_n(rm + x, max(max(load_n(a + x, n), load_n(b + x, n)), load_n(c + x, n)), n);
        }
        return;
    }
    for (; x < W; x += kLanes) {
        const int64_t n = std::min<int64_t>(kLanes, W - x);
        Vf m = load_n(a + x, n);
        for (int64_t r = 1; r < rows; ++r) m = max(m, load_n(a + r * step + x, n));
        store_n(rm + x, m, n);
    }
}

// Output row o from the row maxima at m (m[q * stride + s]: output q's taps).
inline void columns_max(const PoolShape& sh, const float* m, float* o) {
    const int64_t Q = sh.q;
    const bool dense = sh.dil_w == 1;
    const bool k3s1 = dense && sh.kw == 3 && sh.stride_w == 1;
    const bool k3s2 = dense && sh.kw == 3 && sh.stride_w == 2;
    const bool k2s2 = dense && sh.kw == 2 && sh.stride_w == 2;
    if (k3s1 || k3s2 || k2s2) {
        for (int64_t q = 0; q < Q; q += kLanes) {
            Vf v;
            if (k3s1) {
                v = max(max(load(m + q), load(m + q + 1)), load(m + q + 2));
            } else {
                const float* t = m + 2 * q;
                const Vf lo = load(t), hi = load(t + kLanes);
                v = max(even(lo, hi), odd(lo, hi));
                if (k3s2) v = max(v, even(load(t + 2), load(t + 2 + kLanes)));
            }
            if (q + kLanes <= Q)
                store(o + q, v);
            else
                store_n(o + q, v, Q - q);
        }
        return;
    }
    for (int64_t q = 0; q < Q; ++q) {
        const float* win = m + q * sh.stride_w;
        float v = win[0];
        for (int64_t s = 1; s < sh.kw; ++s) v = std::max(v, win[s * sh.dil_w]);
        o[q] = v;
    }
}

}  // namespace pool_detail

// Rows alternate between the two buffers, and a row's columns are taken one row later: read
// straight after its (partial) stores, at offsets that straddle them, the row maxima waited for
// the stores to drain (store forwarding fails there): 30 % of the time of GoogLeNet's poolings
// in that one load.
void max_pool_plane(const PoolShape& sh, const float* in, float* out, float* rm0, float* rm1) {
    using namespace pool_detail;
    const int64_t W = sh.w, Q = sh.q;
    bool pending = false;  // row p - 1's maxima wait in the other buffer
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
                rows_max(in + (h0 + r0 * sh.dil_h) * W, r1 - r0, sh.dil_h * W, W, rm);
                filled = true;
            } else {
                std::fill_n(out + p * Q, Q, -std::numeric_limits<float>::infinity());
            }
        }
        if (pending) columns_max(sh, (p % 2 == 0 ? rm1 : rm0) - sh.pad_w, out + (p - 1) * Q);
        pending = filled;
    }
}
