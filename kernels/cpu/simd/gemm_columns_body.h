// The packed GEMM's column layout (packed_gemm.h) on the shared SIMD paths, written against the
// vector interface of vec_<isa>.h (included as gemm_body.h is): C computed transposed, the
// lanes along C's rows (output channels, or a linear layer's features) and the broadcasts along
// its columns (pixels, tokens): linear layers over tokens (no transposes of x or y, GELU in the
// store) and products whose columns fill the row layout's tiles badly (packed_layout_for).
//
// Register blocking. A tile of the driver (packed_gemm.cpp) is a 32-row panel of A by a panel of
// B of 12, 8 or 4 columns, over one block of K; here it runs as sub-tiles of 16 rows (kColVectors
// vectors) by up to 6 columns: AVX2 2 x 6 (12 accumulators, 2 loads of A and 6 broadcasts per 12
// FMAs, as the row layout's 6 x 16), NEON 4 x 6 (24 accumulators, 4 loads and 6 load-broadcasts
// per 24 FMAs). The sub-tile's sums wait in the driver's buffer between blocks of K; after the
// last block they are transposed in registers (transpose_tile) and stored row by row with bias
// and activation, or, where C^T itself is wanted (tokens by features), stored as they are.

namespace gemm_columns_detail {

constexpr int kColRows = 16;                                      // rows of A per sub-tile
constexpr int kColVectors = kColRows / kLanes;                    // ... in vectors
constexpr int kPanelRows = int(PackedWeights::kColumnPanelRows);  // rows of A per panel

// Rows [h, h + 16) of the tile by its columns [p0, p0 + PR) (PR real ones in the B panel of
// width w); `acc` is the tile's buffer (column-major: acc[p * 32 + row]).
template <int PR, bool kFetch>
inline void subtile(int64_t kc, const float* bt, int64_t w, int64_t p0, const float* ap, int64_t h,
                    float* acc, bool resume, bool last, const ColumnTileOut& out, const float* pf,
                    int lines) {
    Vf s[PR][kColVectors];
    for (int p = 0; p < PR; ++p)
        for (int v = 0; v < kColVectors; ++v)
            s[p][v] = resume ? load(acc + (p0 + p) * kPanelRows + h + v * kLanes) : zero();
    const float* a = ap + h;
    const float* b = bt + p0;
    for (int64_t kk = 0; kk < kc; ++kk) {
        Vf av[kColVectors];
        for (int v = 0; v < kColVectors; ++v) av[v] = load(a + kk * kPanelRows + v * kLanes);
        if constexpr (kFetch) {
            if ((kk & 1) == 0)
                for (int l = 0; l < lines; ++l)
                    __builtin_prefetch(pf + (kk / 2 * lines + l) * 16, 0, 2);
        }
#pragma GCC unroll 6
        for (int p = 0; p < PR; ++p) {
            const Vf bv = set1(b[kk * w + p]);
            for (int v = 0; v < kColVectors; ++v) s[p][v] = fma(bv, av[v], s[p][v]);
        }
    }
    if (!last) {
        for (int p = 0; p < PR; ++p)
            for (int v = 0; v < kColVectors; ++v)
                store(acc + (p0 + p) * kPanelRows + h + v * kLanes, s[p][v]);
        return;
    }
    const int64_t rows = std::min<int64_t>(kColRows, out.rows - h);
    const int64_t cols = std::min<int64_t>(PR, out.cols - p0);
    if (rows <= 0 || cols <= 0) return;
    const Vf lo = zero(), six = set1(6.f);
    auto activate = [&](Vf x) {
        if (out.act != Activation::None) x = max(x, lo);
        if (out.act == Activation::Relu6) x = min(x, six);
        return x;
    };
    if (out.transposed) {
        // Tile column p is row p of C^T: 16 features of one token, stored as they are. (Fixed
        // trip counts: a loop GCC cannot unroll would index the sums at run time and keep them
        // in memory over the whole K loop.)
#pragma GCC unroll 6
        for (int p = 0; p < PR; ++p)
            for (int v = 0; v < kColVectors; ++v) {
                const int64_t n = rows - v * kLanes;
                if (p >= cols || n <= 0) continue;
                Vf x = s[p][v];
                if (out.bias) x = add(x, load_n(out.bias + h + v * kLanes, n));
                x = activate(x);
                if (out.gelu) x = unary_detail::gelu(x);
                store_n(out.c + (p0 + p) * out.ldc + h + v * kLanes, x, n);
            }
        return;
    }
    // C's rows are the tile's: transposed through two small buffers, kLanes x kLanes at a time.
    constexpr int PV = (PR + kLanes - 1) / kLanes;  // vectors of columns per row of C
    alignas(64) float t[PV * kLanes][kColRows];
    alignas(64) float u[kColRows][PV * kLanes];
    for (int p = 0; p < PV * kLanes; ++p)
        for (int v = 0; v < kColVectors; ++v) store(&t[p][v * kLanes], p < PR ? s[p][v] : zero());
    for (int r = 0; r < kColRows; r += kLanes)
        for (int p = 0; p < PV * kLanes; p += kLanes)
            transpose_tile(&t[p][r], kColRows, &u[r][p], PV * kLanes);
    float* c = out.c + h * out.ldc + p0;
    for (int64_t r = 0; r < rows; ++r) {
        const Vf bias = out.bias ? set1(out.bias[h + r]) : zero();
        for (int pv = 0; pv < PV; ++pv) {
            const int64_t n = cols - pv * kLanes;
            if (n <= 0) break;
            store_n(c + r * out.ldc + pv * kLanes, activate(add(load(&u[r][pv * kLanes]), bias)),
                    n);
        }
    }
}

}  // namespace gemm_columns_detail

void gemm_column_tiles(int64_t g, const ColumnTile* tiles, int64_t kc, const float* ap, bool resume,
                       bool last) {
    using namespace gemm_columns_detail;
    static_assert(kColRows % kLanes == 0 && kPanelRows % kColRows == 0);
    // Half a panel of A (16 KB of a block of 256) passes every B panel of the group before the
    // other half, so a 32 KB L1 (Zen 3) holds it and a B panel (panel by panel, a block and a
    // panel came to 44 KB; the two orders timed alike there). Rows past M are zero in A: a half
    // with none of C's rows is skipped. The first half's passes fetch the next block of A (pf)
    // at the rate the driver planned.
    const int64_t rows = tiles[0].out.rows;
    for (int64_t h = 0; h < kPanelRows && h < rows; h += kColRows)
        for (int64_t q = 0; q < g; ++q) {
            const ColumnTile& t = tiles[q];
            // (The fetching form only where there is something to fetch: no test per value of
            // K in the others.)
            auto first = [&](auto pr) {
                constexpr int PR = decltype(pr)::value;
                if (h == 0 && t.pf)
                    subtile<PR, true>(kc, t.bt, t.w, 0, ap, h, t.acc, resume, last, t.out, t.pf,
                                      t.lines);
                else
                    subtile<PR, false>(kc, t.bt, t.w, 0, ap, h, t.acc, resume, last, t.out, nullptr,
                                       0);
            };
            if (t.w == 12) {
                first(std::integral_constant<int, 6>());
                subtile<6, false>(kc, t.bt, t.w, 6, ap, h, t.acc, resume, last, t.out, nullptr, 0);
            } else if (t.w == 8) {
                first(std::integral_constant<int, 4>());
                subtile<4, false>(kc, t.bt, t.w, 4, ap, h, t.acc, resume, last, t.out, nullptr, 0);
            } else {
                first(std::integral_constant<int, 4>());
            }
        }
}
