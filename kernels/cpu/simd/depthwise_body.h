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

// kLanes channels at a time, interleaved. On one plane a row of 7 or 14 outputs is one or two
// vectors, the second or only one partial, and the padded copy of each plane costs as much as its
// multiply-adds; with the channels in the lanes instead, every vector is full whatever the map's
// width. The group's input planes are transposed, tile by tile, into one padded plane of
// kLanes-float cells (zero cells around them); a block of kInterleavedCols output columns of one
// row sums its taps from that plane (one weight vector per tap, the kLanes channels' values of
// it, against kInterleavedCols input cells), in the same order as `block` (rows of taps, left to
// right, then bias and activation: the results are bit-identical), and is transposed back into
// the kLanes output planes. On a Zen 3 core it took 0.25-0.65 of the one-plane kernel's time on
// 7x7 to 28x28 maps, 0.6-0.85 on 56x56 and 112x112 (docs/cpu-paths.md).
// Output columns per block: one AVX2 8x8 tile, two NEON 4x4 ones, one AVX-512 16x16 one (its
// transposes work on whole tiles of kLanes x kLanes). Where a row's last block would be mostly
// padding, AVX-512 takes 8 columns a block instead (interleaved_cols): a 7x7 map's rows in 16
// columns had 9 of every 16 multiply-adds wasted, and EfficientNet-B0's 5x5 layers on 7x7 maps
// ran at 2.5x ONNX Runtime's time on a Zen 4 core.
constexpr int64_t kInterleavedCols = kLanes > 8 ? kLanes : 8;
constexpr int64_t kInterleavedNarrowCols = 8;
constexpr int64_t kInterleavedMaxFloats = int64_t(1) << 18;
constexpr int64_t kLineFloats = 16;  // a 64-byte cache line

inline float* align_line(float* p) {
    return reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(p) + 63) & ~uintptr_t(63));
}

// Output columns per block for rows of Q outputs: kInterleavedCols, or the narrow blocks where
// they compute at most 3/4 of the columns (AVX-512: Q = 7 in one block of 8, not 16; Q = 18 in
// 3 of 8, not 2 of 16). A narrow block transposes a whole 16 x 16 tile for its 8 columns, so
// saving less does not pay: 56 columns as 7 blocks of 8 took 0.95-1.05 of 4 of 16's time.
inline int64_t interleaved_cols(int64_t Q) {
    auto padded = [Q](int64_t cols) { return (Q + cols - 1) / cols * cols; };
    return 4 * padded(kInterleavedNarrowCols) <= 3 * padded(kInterleavedCols)
               ? kInterleavedNarrowCols
               : kInterleavedCols;
}

// The interleaved plane: `rows` x `cols` cells of kLanes floats, input cell (h, w) at (h + pad_h,
// w + pad_w); wide enough for the last block of columns and the last input tile's zero lanes.
// block_cols: output columns per block (interleaved_cols).
struct Interleaved {
    int64_t P, Q, rows, cols, block_cols;
};

inline Interleaved interleaved_layout(const ConvShape& sh) {
    Interleaved l;
    l.P = sh.p();
    l.Q = sh.q();
    l.block_cols = interleaved_cols(l.Q);
    const int64_t K = sh.r;
    const int64_t out_cols = (l.Q + l.block_cols - 1) / l.block_cols * l.block_cols;
    const int64_t in_cols = (sh.w + kLanes - 1) / kLanes * kLanes;
    l.rows = std::max((l.P - 1) * sh.stride_h + K, sh.pad_h + sh.h);
    l.cols = std::max((out_cols - 1) * sh.stride_w + K, sh.pad_w + in_cols);
    return l;
}

// Planes whose interleaved copy would pass 1 MB (224x224 maps) run one by one.
inline bool interleaved_applies(const ConvShape& sh) {
    const Interleaved l = interleaved_layout(sh);
    return l.rows * l.cols * kLanes <= kInterleavedMaxFloats;
}

// Scratch floats of the interleaved path: the plane, and two tiles for the transposes.
inline size_t interleaved_floats(const Interleaved& l) {
    return size_t(l.rows * l.cols * kLanes + 2 * kInterleavedCols * kLanes);
}

// Input planes x, x + H W, ... (kLanes of them) into the interleaved plane `pad`.
inline void fill_interleaved(const ConvShape& sh, const Interleaved& l, const float* x, float* pad,
                             float* tile) {
    const int64_t H = sh.h, W = sh.w, HW = H * W;
    for (int64_t ih = 0; ih < H; ++ih) {
        const float* in = x + ih * W;
        float* out = pad + ((ih + sh.pad_h) * l.cols + sh.pad_w) * kLanes;
        int64_t iw = 0;
        for (; iw + kLanes <= W; iw += kLanes)
            transpose_tile(in + iw, HW, out + iw * kLanes, kLanes);
        if (iw < W) {  // the row's last columns, zero lanes past it (the right padding)
            for (int i = 0; i < kLanes; ++i)
                store(tile + i * kLanes, load_n(in + i * HW + iw, W - iw));
            transpose_tile(tile, kLanes, out + iw * kLanes, kLanes);
        }
    }
}

// Output columns [q0, q0 + COLS) of row p of the kLanes planes from y on.
template <int K, int STRIDE, int COLS>
inline void block_interleaved(const Interleaved& l, const Vf* taps, Vf bias, Activation act,
                              const float* pad, float* y, int64_t p, int64_t q0, float* tile,
                              float* spare) {
    Vf acc[COLS];
    for (int j = 0; j < COLS; ++j) acc[j] = zero();
    const float* first = pad + (STRIDE * p * l.cols + STRIDE * q0) * kLanes;
    auto tap_row = [&](int r) __attribute__((always_inline)) {
        const float* row = first + r * l.cols * kLanes;
#pragma GCC unroll 7
        for (int s = 0; s < K; ++s) {
            const Vf wv = taps[r * K + s];
#pragma GCC unroll 16  // COLS: the accumulators must stay registers
            for (int j = 0; j < COLS; ++j)
                acc[j] = fma(wv, load(row + (STRIDE * j + s) * kLanes), acc[j]);
        }
    };
    if constexpr (K * K * COLS > 512) {
        // (7x7 with 16 columns: unrolled whole, 784 multiply-adds left GCC spilling the
        // accumulators, 2x the time; a loop over the tap rows keeps them in registers)
#pragma GCC unroll 1
        for (int r = 0; r < K; ++r) tap_row(r);
    } else {
#pragma GCC unroll 7
        for (int r = 0; r < K; ++r) tap_row(r);
    }
    const Vf six = set1(6.f);
#pragma GCC unroll 16
    for (int j = 0; j < COLS; ++j) {
        Vf v = add(acc[j], bias);
        if (act != Activation::None) v = max(v, zero());
        if (act == Activation::Relu6) v = min(v, six);
        store(tile + j * kLanes, v);
    }
    const int64_t PQ = l.P * l.Q;
    // (A narrow block's transposes read the tile's cells past COLS: stale, never stored.)
    for (int64_t t = 0; t < COLS; t += kLanes) {
        const int64_t q = q0 + t, n = std::min<int64_t>(l.Q - q, COLS - t);
        if (n <= 0) break;
        float* out = y + p * l.Q + q;
        if (n >= kLanes) {
            transpose_tile(tile + t * kLanes, kLanes, out, PQ);
        } else {
            transpose_tile(tile + t * kLanes, kLanes, spare, kLanes);
            for (int i = 0; i < kLanes; ++i) store_n(out + i * PQ, load(spare + i * kLanes), n);
        }
    }
}

// Channels [c, c + kLanes) of one image: input planes from x, output planes from y.
template <int K>
void group_interleaved(const ConvShape& sh, const Interleaved& l, const float* x, const float* w,
                       const float* b, Activation act, float* y, int64_t c, float* pad) {
    float* tile = pad + l.rows * l.cols * kLanes;
    float* spare = tile + kInterleavedCols * kLanes;
    // The taps' values tap-major, then the biases, all written before any is loaded as a vector
    // (a vector loaded right after its lanes' scalar stores waits for them to drain: 49 such
    // waits per group took more than a 7x7 map's multiply-adds).
    alignas(64) float tw[(K * K + 1) * kLanes];
    for (int i = 0; i < kLanes; ++i) {
        const float* wc = w + (c + i) * K * K;
        for (int t = 0; t < K * K; ++t) tw[t * kLanes + i] = wc[t];
        tw[K * K * kLanes + i] = b ? b[c + i] : 0.f;
    }
    Vf taps[K * K];
    for (int t = 0; t < K * K; ++t) taps[t] = load(tw + t * kLanes);
    const Vf bias = load(tw + K * K * kLanes);
    fill_interleaved(sh, l, x, pad, tile);
    constexpr int kWide = int(kInterleavedCols), kNarrow = int(kInterleavedNarrowCols);
    if (l.block_cols == kWide) {
        for (int64_t p = 0; p < l.P; ++p)
            for (int64_t q0 = 0; q0 < l.Q; q0 += kWide)
                if (sh.stride_h == 1)
                    block_interleaved<K, 1, kWide>(l, taps, bias, act, pad, y, p, q0, tile, spare);
                else
                    block_interleaved<K, 2, kWide>(l, taps, bias, act, pad, y, p, q0, tile, spare);
    } else if constexpr (kNarrow < kWide) {
        for (int64_t p = 0; p < l.P; ++p)
            for (int64_t q0 = 0; q0 < l.Q; q0 += kNarrow)
                if (sh.stride_h == 1)
                    block_interleaved<K, 1, kNarrow>(l, taps, bias, act, pad, y, p, q0, tile,
                                                     spare);
                else
                    block_interleaved<K, 2, kNarrow>(l, taps, bias, act, pad, y, p, q0, tile,
                                                     spare);
    }
}

// Planes [first, last): groups of kLanes channels of one image interleaved, the planes left over
// (a range's ends, channel counts not a multiple of kLanes) one by one.
template <int K>
void planes_interleaved(const ConvShape& sh, const Padded& l, const float* x, const float* w,
                        const float* b, Activation act, float* y, int64_t first, int64_t last,
                        float* scratch) {
    const Interleaved il = interleaved_layout(sh);
    // After the one-plane path's scratch, at a cache line: a vector load that straddles two
    // lines costs two, and 16-lane vectors at an unaligned start straddle them all.
    float* pad = align_line(scratch + 2 * l.rows * l.row_floats);
    // Zero cells around the input's: fill_interleaved rewrites only columns [pad_w, pad_w +
    // in_cols) of rows [pad_h, pad_h + H) (a 112x112 plane's whole copy is 416 KB).
    const int64_t in_cols = (sh.w + kLanes - 1) / kLanes * kLanes, row = il.cols * kLanes;
    std::fill_n(pad, sh.pad_h * row, 0.f);
    std::fill_n(pad + (sh.pad_h + sh.h) * row, (il.rows - sh.pad_h - sh.h) * row, 0.f);
    for (int64_t r = sh.pad_h; r < sh.pad_h + sh.h; ++r) {
        std::fill_n(pad + r * row, sh.pad_w * kLanes, 0.f);
        std::fill_n(pad + r * row + (sh.pad_w + in_cols) * kLanes,
                    (il.cols - sh.pad_w - in_cols) * kLanes, 0.f);
    }
    const int64_t in_plane = sh.h * sh.w, out_plane = il.P * il.Q;
    for (int64_t plane = first; plane < last;) {
        const int64_t c = plane % sh.c;
        if (plane + kLanes <= last && c + kLanes <= sh.c) {
            group_interleaved<K>(sh, il, x + plane * in_plane, w, b, act, y + plane * out_plane, c,
                                 pad);
            plane += kLanes;
        } else {
            planes<K>(sh, l, x, w, b, act, y, plane, plane + 1, scratch);
            ++plane;
        }
    }
}

}  // namespace dw_detail

size_t depthwise_scratch_floats(const ConvShape& sh) {
    using namespace dw_detail;
    const Padded l = padded_layout(sh);
    const size_t one_plane = size_t(2 * l.rows * l.row_floats);
    if (!interleaved_applies(sh)) return one_plane;
    return one_plane + kLineFloats + interleaved_floats(interleaved_layout(sh));
}

double depthwise_row_vectors(const ConvShape& sh) {
    using namespace dw_detail;
    if (!interleaved_applies(sh)) return double(padded_layout(sh).vectors);
    // kLanes channels share each vector: a row of one channel costs its blocks' columns / kLanes.
    const int64_t Q = sh.q(), cols = interleaved_cols(Q);
    return double((Q + cols - 1) / cols * cols) / double(kLanes);
}

void depthwise(const ConvShape& sh, const float* x, const float* w, const float* b, Activation act,
               float* y, int64_t first, int64_t last, float* scratch) {
    using namespace dw_detail;
    const Padded l = padded_layout(sh);
    const bool il = interleaved_applies(sh);
    if (sh.r == 3)
        (il ? planes_interleaved<3> : planes<3>)(sh, l, x, w, b, act, y, first, last, scratch);
    else if (sh.r == 5)
        (il ? planes_interleaved<5> : planes<5>)(sh, l, x, w, b, act, y, first, last, scratch);
    else
        (il ? planes_interleaved<7> : planes<7>)(sh, l, x, w, b, act, y, first, last, scratch);
}
