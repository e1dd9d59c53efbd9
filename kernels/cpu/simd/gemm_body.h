// The packed GEMM (row layout) and the fully connected layers' weight-streaming products,
// written once against the vector interface (Vf, kLanes, zero, set1, load, load_n, store,
// store_n, fma, add, max, min, lanes, kGemmRows, kGemmVectors, kGemmShortKRows, kGemmPrefetchA)
// of vec_avx2.h or vec_neon.h.
// Included by simd_<isa>.cpp inside namespace nse::<isa>, after that header; it includes nothing
// itself (its TU includes what it needs before switching the target).
//
// Register blocking. A micro-tile of kGemmRows rows of C by kGemmVectors vectors of columns stays
// in registers over the K loop; per value of K it loads kGemmVectors vectors of packed B and
// broadcasts one value of A per row, so it issues kGemmRows * kGemmVectors FMAs for
// kGemmVectors + kGemmRows loads: AVX2 6 x 2 (x 8 lanes): 12 FMAs per 8 loads; NEON 12 x 2
// (x 4 lanes): 24 FMAs per 14 loads (the 12 broadcasts are ld1r, load-and-duplicate). A is the
// same packed panels of 12 rows as the AVX-512 kernel's (packed_gemm.h), read k-major: AVX2 runs
// a 12-row panel as two 6-row tiles, reading every 12th value.

namespace gemm_detail {

constexpr int64_t kNr = kGemmVectors * kLanes;  // columns of C per micro-tile
constexpr int64_t kKc = 256;                    // values of K per packed block of B
// Columns of C per block: B packed for the whole block (256 KB at kKc), then each A panel over
// the block's tiles, so each row of C is written 1 KB at a time (a tile at a time over every
// panel made each row of C a stream of its own: see packed_gemm_rows_avx512.cpp).
constexpr int64_t kBlockColumns = 256;
constexpr int64_t kPanelRows = PackedWeights::kPanelRows;
// Values of K ahead that the first pass over an A panel prefetches (kGemmPrefetchA), as the
// AVX-512 kernel does: inside a network the weights come from memory, and a 1x1 layer on a 7x7
// map reads each panel for only 3-4 tiles (MobileNetV2's 320 -> 1280: 0.60 -> 0.53 ms).
constexpr int64_t kPrefetchAhead = 64;
// Column tails: a panel's rows in the lanes (kTailVectors vectors: AVX2 2, NEON 3), a broadcast
// of B per column, for the few columns a row of tiles leaves (a 7x7 map's 49th). A column costs
// kTailVectors multiply-adds per value of K where a one-vector tile costs kPanelRows for up to
// kLanes columns, so tails take the last kGemmTailColumns columns or fewer (AVX2 5, NEON 3).
constexpr int kTailVectors = int((kPanelRows + kLanes - 1) / kLanes);
constexpr int64_t kGemmTailColumns = (kPanelRows - 1) / kTailVectors;
// How a last tile of `cols` (< kNr) columns runs: a one-vector tile of `vec` columns, then
// `tails` column tails; both 0 where it runs as a tile of two vectors (run_panel's rule, which
// gemm_last_tile_columns counts).
struct LastTile {
    int64_t vec, tails;
};
inline LastTile last_tile(int64_t cols) {
    if (cols <= kGemmTailColumns) return {0, cols};
    if (cols <= kLanes) return {cols, 0};
    if (cols - kLanes <= kGemmTailColumns) return {kLanes, cols - kLanes};
    return {0, 0};
}

using Epilogue = GemmTileEpilogue;  // packed_gemm.h

// C[rows (<= MR) x cols (<= NV vectors)] (+)= A (MR rows, kc values; row r of value kk at
// ap[kk * as + r]) x B (kc rows ldb apart, NV full vectors each: packed, or where it lies).
template <int MR, int NV, bool kPrefetchA = false>
inline void micro_kernel(int64_t kc, const float* ap, int64_t as, const float* bp, int64_t ldb,
                         float* c, int64_t ldc, int64_t rows, int64_t cols, const Epilogue& e) {
    Vf acc[MR][NV];
    for (int r = 0; r < MR; ++r)
        for (int v = 0; v < NV; ++v) acc[r][v] = zero();
    for (int64_t kk = 0; kk < kc; ++kk) {
        Vf b[NV];
        for (int v = 0; v < NV; ++v) b[v] = load(bp + kk * ldb + v * kLanes);
        if constexpr (kPrefetchA) __builtin_prefetch(ap + (kk + kPrefetchAhead) * as, 0, 3);
#pragma GCC unroll 12
        for (int r = 0; r < MR; ++r) {
            const Vf a = set1(ap[kk * as + r]);
            for (int v = 0; v < NV; ++v) acc[r][v] = fma(a, b[v], acc[r][v]);
        }
    }
    const Vf lo = zero(), six = set1(6.f);
#pragma GCC unroll 12
    for (int r = 0; r < MR; ++r) {
        if (r >= rows) continue;
        float* cr = c + r * ldc;
        for (int v = 0; v < NV; ++v) {
            const int64_t n = cols - v * kLanes;
            if (n <= 0) break;
            Vf x = acc[r][v];
            if (e.accumulate) x = add(x, load_n(cr + v * kLanes, n));
            if (e.last) {
                if (e.bias) x = add(x, set1(e.bias[r]));
                if (e.act != Activation::None) x = max(x, lo);
                if (e.act == Activation::Relu6) x = min(x, six);
            }
            if (n >= kLanes)
                store(cr + v * kLanes, x);
            else
                store_n(cr + v * kLanes, x, n);
        }
    }
}

// B[kc rows (ldb apart), cols columns] -> bp[kc][kNr], columns beyond `cols` zero.
inline void pack_b(int64_t kc, const float* b, int64_t ldb, int64_t cols, float* bp) {
    for (int64_t kk = 0; kk < kc; ++kk)
        for (int v = 0; v < kGemmVectors; ++v) {
            const float* src = b + kk * ldb + v * kLanes;
            const int64_t n = cols - v * kLanes;
            store(bp + kk * kNr + v * kLanes, n >= kLanes ? load(src) : load_n(src, n));
        }
}

// C[rows, NC columns] (+)= A panel (PR rows, kc values, k-major) x B (kc rows ldb apart, NC
// columns): the panel's rows in the lanes of kTailVectors vectors (whole vectors read; past a
// 4-row panel's or a 12-row panel's last value into the next value's rows, or the slack after the
// last panel: lanes never stored), per value of K one broadcast of B per column. The sums reach
// C through a small buffer, a column's rows ldc apart.
template <int PR, int NC>
inline void column_tail(int64_t kc, const float* ap, const float* bp, int64_t ldb, float* c,
                        int64_t ldc, int64_t rows, const Epilogue& e) {
    constexpr int V = (PR + kLanes - 1) / kLanes;
    Vf acc[NC][V];
    for (int j = 0; j < NC; ++j)
        for (int v = 0; v < V; ++v) acc[j][v] = zero();
    for (int64_t kk = 0; kk < kc; ++kk) {
        Vf a[V];
        for (int v = 0; v < V; ++v) a[v] = load(ap + kk * PR + v * kLanes);
        for (int j = 0; j < NC; ++j) {
            const Vf bj = set1(bp[kk * ldb + j]);
            for (int v = 0; v < V; ++v) acc[j][v] = fma(a[v], bj, acc[j][v]);
        }
    }
    const Vf lo = zero(), six = set1(6.f);
    float t[V * kLanes];
    for (int j = 0; j < NC; ++j) {
        if (e.accumulate)
            for (int64_t r = 0; r < rows; ++r) t[r] = c[r * ldc + j];
        for (int v = 0; v < V; ++v) {
            const int64_t live = rows - v * kLanes;
            if (live <= 0) break;
            Vf x = acc[j][v];
            if (e.accumulate) x = add(x, load_n(t + v * kLanes, live));
            if (e.last) {
                if (e.bias) x = add(x, load_n(e.bias + v * kLanes, live));
                if (e.act != Activation::None) x = max(x, lo);
                if (e.act == Activation::Relu6) x = min(x, six);
            }
            store(t + v * kLanes, x);
        }
        for (int64_t r = 0; r < rows; ++r) c[r * ldc + j] = t[r];
    }
}

// column_tail over `cols` (<= kGemmTailColumns) columns for a panel of pr rows.
template <int PR>
inline void column_tails(int64_t cols, int64_t kc, const float* ap, const float* bp, int64_t ldb,
                         float* c, int64_t ldc, int64_t rows, const Epilogue& e) {
    static_assert(kGemmTailColumns <= 5, "tails of up to 5 columns");
    switch (cols) {
        case 1:
            return column_tail<PR, 1>(kc, ap, bp, ldb, c, ldc, rows, e);
        case 2:
            return column_tail<PR, 2>(kc, ap, bp, ldb, c, ldc, rows, e);
        case 3:
            return column_tail<PR, 3>(kc, ap, bp, ldb, c, ldc, rows, e);
        case 4:
            if constexpr (kGemmTailColumns >= 4)
                return column_tail<PR, 4>(kc, ap, bp, ldb, c, ldc, rows, e);
            break;
        case 5:
            if constexpr (kGemmTailColumns >= 5)
                return column_tail<PR, 5>(kc, ap, bp, ldb, c, ldc, rows, e);
            break;
    }
}

// Calls f(std::integral_constant<int, MR>(), r0) for each micro-tile of rows [r0, r0 + MR) of a
// panel of pr rows: AVX2 runs a 12-row panel as two tiles of 6, NEON as one of 12.
template <class F>
inline void panel_tiles(int64_t pr, F&& f) {
    using R4 = std::integral_constant<int, 4>;
    static_assert(kGemmRows == 6 || kGemmRows == 12, "row tiles of 6 or 12");
    if constexpr (kGemmRows == 12) {
        if (pr == 12)
            f(std::integral_constant<int, 12>(), 0);
        else if (pr == 8)
            f(std::integral_constant<int, 8>(), 0);
        else
            f(R4(), 0);
    } else {
        if (pr == 12) {
            f(std::integral_constant<int, 6>(), 0);
            f(std::integral_constant<int, 6>(), 6);
        } else if (pr == 8) {
            f(R4(), 0);
            f(R4(), 4);
        } else {
            f(R4(), 0);
        }
    }
}

// Panel p of A over values [k0, k0 + kc) against the B tile of columns [j, j + cols)
// (rows ldb apart: packed, or where it lies when the tile is full). first_read: the block's
// first tile, which reads the panel from memory (kGemmPrefetchA).
inline void run_panel(const PackedWeights& a, int64_t p, int64_t k0, int64_t kc, const float* bp,
                      int64_t ldb, float* c, int64_t ldc, int64_t j, int64_t cols,
                      const float* bias, Activation act, bool first_read) {
    const int64_t pr = a.panel_rows(p), row0 = p * kPanelRows;
    const float* ap = a.panel(p) + k0 * pr;
    float* ct = c + row0 * ldc + j;
    const int64_t rows = std::min(kPanelRows, a.m() - row0);
    const Epilogue e{k0 > 0, k0 + kc == a.k(), bias ? bias + row0 : nullptr, act};
    const LastTile last = cols < kNr ? last_tile(cols) : LastTile{0, 0};
    if (last.vec + last.tails > 0) {
        // A last tile of a vector and a few columns, one vector or less: the whole panel as one
        // tile of one vector, not two with one of them idle, and the columns past it (or all of
        // a tile of at most kGemmTailColumns) as column tails (a 7x7 map's 49 columns: 3 x 16 +
        // 1 on AVX2, the 49th a tail; before, a vector tile of 12 x 8 for it).
        auto run = [&](auto pr_c) {
            constexpr int PR = decltype(pr_c)::value;
            if (last.vec > 0) micro_kernel<PR, 1>(kc, ap, pr, bp, ldb, ct, ldc, rows, last.vec, e);
            if (last.tails > 0)
                column_tails<PR>(last.tails, kc, ap, bp + last.vec, ldb, ct + last.vec, ldc, rows,
                                 e);
        };
        if (pr == 12)
            run(std::integral_constant<int, 12>());
        else if (pr == 8)
            run(std::integral_constant<int, 8>());
        else
            run(std::integral_constant<int, 4>());
        return;
    }
    panel_tiles(pr, [&](auto mr, int64_t r0) {
        constexpr int MR = decltype(mr)::value;
        if (rows <= r0) return;
        Epilogue er = e;
        if (er.bias) er.bias += r0;
        if (kGemmPrefetchA && first_read && r0 == 0)  // (the tiles share A's lines)
            micro_kernel<MR, kGemmVectors, kGemmPrefetchA>(kc, ap + r0, pr, bp, ldb, ct + r0 * ldc,
                                                           ldc, rows - r0, cols, er);
        else
            micro_kernel<MR, kGemmVectors>(kc, ap + r0, pr, bp, ldb, ct + r0 * ldc, ldc, rows - r0,
                                           cols, er);
    });
}

// C[panels p0..p1, columns n0..n1) = A x B for K <= kPackedGemmShortK. The time goes into writing
// C, which the layer before left out of the caches (a map of many channels written from few), so
// C is written in few streams: kGemmShortKRows rows at a time in one sweep over all the columns
// (B, a few rows, re-read from L2 per sweep), full tiles of B read where they lie, a last,
// partial one packed into a buffer. On AVX2 (MobileNetV2's 16 -> 96 expansion at 112x112,
// `nse_bench_conv --cold-output`, one Zen 4 core): both 6-row tiles of a panel per column tile,
// 12 rows in flight 64 bytes at a time, 1.41-1.47 ms; a sweep per 6-row tile 0.72-0.73; per 4
// rows 0.49-0.51 (0.47 with C in the caches); per 3, 2 or 1 row 0.55, 0.90, 1.05.
inline void short_k_block(const PackedWeights& a, int64_t p0, int64_t p1, int64_t n0, int64_t n1,
                          const float* b, int64_t ldb, const float* bias, Activation act, float* c,
                          int64_t ldc) {
    const int64_t K = a.k();
    alignas(64) float bp[kPackedGemmShortK * kNr];
    for (int64_t p = p0; p < p1; ++p) {
        const int64_t pr = a.panel_rows(p), row0 = p * kPanelRows;
        const int64_t rows = std::min(kPanelRows, a.m() - row0);
        const Epilogue e{false, true, bias ? bias + row0 : nullptr, act};
        // Rows [r0, r0 + MR) of the panel in one sweep.
        auto sweep = [&](auto mr, int64_t r0) {
            constexpr int MR = decltype(mr)::value;
            if (rows <= r0) return;
            Epilogue er = e;
            if (er.bias) er.bias += r0;
            const float* ap = a.panel(p) + r0;
            float* ct = c + (row0 + r0) * ldc;
            for (int64_t j = n0; j < n1; j += kNr) {
                const int64_t cols = std::min(kNr, n1 - j);
                if (cols == kNr) {
                    micro_kernel<MR, kGemmVectors>(K, ap, pr, b + j, ldb, ct + j, ldc, rows - r0,
                                                   cols, er);
                    continue;
                }
                pack_b(K, b + j, ldb, cols, bp);
                if (cols <= kLanes)
                    micro_kernel<MR, 1>(K, ap, pr, bp, kNr, ct + j, ldc, rows - r0, cols, er);
                else
                    micro_kernel<MR, kGemmVectors>(K, ap, pr, bp, kNr, ct + j, ldc, rows - r0, cols,
                                                   er);
            }
        };
        static_assert(kGemmShortKRows == 4 || kGemmShortKRows == kGemmRows,
                      "sweeps of 4 rows (panels are 4, 8 or 12) or of the micro-tile's rows");
        if constexpr (kGemmShortKRows == 4) {
            for (int64_t r0 = 0; r0 < pr; r0 += 4) sweep(std::integral_constant<int, 4>(), r0);
        } else {
            panel_tiles(pr, sweep);
        }
    }
}

}  // namespace gemm_detail

int64_t gemm_tile_cols() { return gemm_detail::kNr; }

int64_t gemm_last_tile_columns(int64_t rest) {
    using namespace gemm_detail;
    // A tail column issues kTailVectors multiply-adds where a tile issues kPanelRows / kLanes per
    // column (AVX2: 4/3 of a column, NEON: 1).
    auto tails = [](int64_t n) {
        return (n * kTailVectors * kLanes + kPanelRows - 1) / kPanelRows;
    };
    if (rest <= 0) return 0;
    const LastTile last = last_tile(rest);
    if (last.vec + last.tails == 0) return kNr;
    return (last.vec > 0 ? kLanes : 0) + tails(last.tails);
}

void gemm_block(const PackedWeights& a, int64_t p0, int64_t p1, int64_t n0, int64_t n1,
                const float* b, int64_t ldb, const float* bias, Activation act, float* c,
                int64_t ldc) {
    using namespace gemm_detail;
    const int64_t K = a.k();
    if (K <= kPackedGemmShortK) return short_k_block(a, p0, p1, n0, n1, b, ldb, bias, act, c, ldc);
    // B's panels for one block of columns, one buffer per thread (256 KB: not on the stack).
    thread_local const std::shared_ptr<float> buffer = aligned_floats(kKc * kBlockColumns);
    float* const bb = buffer.get();
    for (int64_t jb = n0; jb < n1; jb += kBlockColumns) {
        const int64_t je = std::min(n1, jb + kBlockColumns);
        for (int64_t k0 = 0; k0 < K; k0 += kKc) {
            const int64_t kc = std::min(kKc, K - k0);
            for (int64_t j = jb; j < je; j += kNr)
                pack_b(kc, b + k0 * ldb + j, ldb, std::min(kNr, je - j), bb + (j - jb) * kKc);
            for (int64_t p = p0; p < p1; ++p)
                for (int64_t j = jb; j < je; j += kNr)
                    run_panel(a, p, k0, kc, bb + (j - jb) * kKc, kNr, c, ldc, j,
                              std::min(kNr, je - j), bias, act, j == jb);
        }
    }
}

namespace gemv_detail {

constexpr int64_t kAhead = 256;  // floats of each weight row fetched ahead into L2

inline float sum_lanes(Vf x) {
    float l[kLanes];
    lanes(x, l);
    float s = 0.f;
    for (int i = 0; i < kLanes; ++i) s += l[i];
    return s;
}

// y[r] = W[r, :] . x for ROWS rows: each weight streamed once, kLanes per multiply-add.
template <int ROWS>
inline void gemv_rows(int64_t K, const float* W, int64_t ldw, const float* x, float* y) {
    Vf acc[ROWS];
    for (int r = 0; r < ROWS; ++r) acc[r] = zero();
    int64_t k = 0;
    for (; k + kLanes <= K; k += kLanes) {
        const Vf xv = load(x + k);
#pragma GCC unroll 8
        for (int r = 0; r < ROWS; ++r) {
            __builtin_prefetch(W + r * ldw + k + kAhead, 0, 2);
            acc[r] = fma(load(W + r * ldw + k), xv, acc[r]);
        }
    }
    const Vf xv = load_n(x + k, K - k);
    for (int r = 0; r < ROWS; ++r)
        y[r] = sum_lanes(fma(load_n(W + r * ldw + k, K - k), xv, acc[r]));
}

// Y[c, r] = W[r, :] . X[c, :] for ROWS rows of W and COLS rows of X, every product accumulated as
// gemv_rows accumulates it (same lanes, order, tail and sum): bit-identical to COLS gemv calls.
template <int ROWS, int COLS>
inline void gemv_tile(int64_t K, const float* W, int64_t ldw, const float* X, float* Y,
                      int64_t ldy) {
    Vf acc[ROWS][COLS];
    for (int r = 0; r < ROWS; ++r)
        for (int c = 0; c < COLS; ++c) acc[r][c] = zero();
    int64_t k = 0;
    for (; k + kLanes <= K; k += kLanes) {
        Vf xv[COLS];
        for (int c = 0; c < COLS; ++c) xv[c] = load(X + c * K + k);
#pragma GCC unroll 4
        for (int r = 0; r < ROWS; ++r) {
            __builtin_prefetch(W + r * ldw + k + kAhead, 0, 2);
            const Vf wv = load(W + r * ldw + k);
            for (int c = 0; c < COLS; ++c) acc[r][c] = fma(wv, xv[c], acc[r][c]);
        }
    }
    for (int r = 0; r < ROWS; ++r) {
        const Vf wv = load_n(W + r * ldw + k, K - k);
        for (int c = 0; c < COLS; ++c)
            Y[c * ldy + r] = sum_lanes(fma(wv, load_n(X + c * K + k, K - k), acc[r][c]));
    }
}

template <int ROWS>
inline void gemv_tile_cols(int64_t M, int64_t K, const float* W, int64_t ldw, const float* X,
                           float* Y, int64_t ldy) {
    int64_t c = 0;
    for (; c + 4 <= M; c += 4) gemv_tile<ROWS, 4>(K, W, ldw, X + c * K, Y + c * ldy, ldy);
    if (M - c == 3) gemv_tile<ROWS, 3>(K, W, ldw, X + c * K, Y + c * ldy, ldy);
    if (M - c == 2) gemv_tile<ROWS, 2>(K, W, ldw, X + c * K, Y + c * ldy, ldy);
    if (M - c == 1) gemv_tile<ROWS, 1>(K, W, ldw, X + c * K, Y + c * ldy, ldy);
}

}  // namespace gemv_detail

void gemv(int64_t N, int64_t K, const float* W, int64_t ldw, const float* x, float* y) {
    int64_t i = 0;
    for (; i + 8 <= N; i += 8) gemv_detail::gemv_rows<8>(K, W + i * ldw, ldw, x, y + i);
    for (; i < N; ++i) gemv_detail::gemv_rows<1>(K, W + i * ldw, ldw, x, y + i);
}

void gemv_multi(int64_t M, int64_t N, int64_t K, const float* W, const float* X, float* Y,
                int64_t ldy) {
    int64_t i = 0;
    for (; i + 4 <= N; i += 4) gemv_detail::gemv_tile_cols<4>(M, K, W + i * K, K, X, Y + i, ldy);
    for (; i < N; ++i) gemv_detail::gemv_tile_cols<1>(M, K, W + i * K, K, X, Y + i, ldy);
}
