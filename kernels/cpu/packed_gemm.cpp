#include "kernels/cpu/packed_gemm.h"

#include <algorithm>

#if defined(__x86_64__)
#include <immintrin.h>

#include "kernels/cpu/smooth_avx512.h"
#endif

#include "base/error.h"
#include "base/tensor.h"
#include "base/thread_pool.h"
#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/simd/simd_kernels.h"

namespace nse {

namespace {
constexpr int64_t kMr = PackedWeights::kPanelRows;
constexpr int64_t kNr = 32;        // columns per micro-tile: two AVX-512 vectors
constexpr int64_t kKc = 256;       // values of K per packed B panel (32 KB)
constexpr int64_t kMcPanels = 64;  // A panels per block: 768 rows x 256 x 4 B = 768 KB of L2
constexpr int64_t kMinColsPerThread = 128;
// The micro-kernel's first pass over an A panel (the first column tile of a block) asks for A this
// many values of K ahead; later passes find A in L1 or L2. Where the weights come from memory
// (a network's weights pushed out by its other layers), the hardware's prefetch alone left the
// first pass waiting on them: ResNet-18's 128-channel Winograd products (36 GEMMs of 128 x 49 x
// 128, each a 64 KB A) took 0.53 ms a layer in a chain of 48 such layers and 0.42 in a chain
// of 3; with this, 0.45-0.47 and 0.42 (2 threads); in ResNet-18 at 1 thread 0.94-1.05 ->
// 0.78-0.89 ms.
constexpr int64_t kPrefetchAhead = 64;
// Columns AVX-512's row layout leaves to its column tails: up to this many after the first vector
// of a last tile, or all of a last tile this narrow (a vector of 16 lanes for 12 columns still
// does more per multiply-add than a panel's 12 rows in the lanes).
constexpr int64_t kAvx512TailColumns = 11;
}  // namespace

PackedWeights::PackedWeights(int64_t m, int64_t k, const float* a, int64_t lda, Layout layout)
    : layout_(layout), m_(m), k_(k) {
    NSE_CHECK(m > 0 && k > 0, ErrorCode::Internal, "packed weights need M, K > 0");
    const int64_t last = panel_rows(panels() - 1);
    const size_t count = size_t(((panels() - 1) * height() + last) * k);
    data_ = aligned_floats(count);
    std::fill_n(data_.get(), count, 0.f);
    for (int64_t i = 0; i < panels(); ++i) {
        const int64_t rows = panel_rows(i);
        float* out = data_.get() + i * height() * k;
        for (int64_t r = 0; r < rows && i * height() + r < m; ++r) {
            const float* row = a + (i * height() + r) * lda;
            for (int64_t kk = 0; kk < k; ++kk) out[kk * rows + r] = row[kk];
        }
    }
}

int64_t PackedWeights::panel_rows(int64_t i) const {
    if (layout_ == Layout::Columns) return kColumnPanelRows;
    const int64_t left = m_ - i * kMr;
    return left >= kMr ? kMr : (left + 3) / 4 * 4;
}

size_t packed_gemm_workspace_floats(PackedWeights::Layout layout, int64_t n, int64_t k) {
    if (layout == PackedWeights::Layout::Rows) return 0;
    return static_cast<size_t>((n + kMr - 1) / kMr * kMr * k);
}

namespace {
using RowBlockFn = void (*)(const PackedWeights& a, int64_t p0, int64_t p1, int64_t n0, int64_t n1,
                            const float* b, int64_t ldb, const float* bias, Activation act,
                            float* c, int64_t ldc);
using ColumnTilesFn = void (*)(int64_t g, const ColumnTile* tiles, int64_t kc, const float* ap,
                               bool resume, bool last);
// The column layout's tile kernel for the path in use, or null (generic).
ColumnTilesFn column_tile_kernel();
// The row layout's kernel for the path in use and its micro-tile's width in columns.
RowBlockFn row_block_kernel(int64_t& tile_cols);
}  // namespace

PackedWeights::Layout packed_layout_for(int64_t m, int64_t n, int64_t k, bool im2col) {
    int64_t tile = 0;  // the row layout's micro-tile width in columns
    if (!row_block_kernel(tile) || !column_tile_kernel()) return PackedWeights::Layout::Rows;
    auto fill = [](int64_t x, int64_t t) { return double(x) / double((x + t - 1) / t * t); };
    // The row layout's columns: on AVX-512 what its tiles and column tails compute (a 7x7 map's
    // 49 as 50, a 14x14 map's 196 as 198), so since the column tails (revision 20) 1x1 layers
    // and Winograd's products take rows there: on a Zen 4 core the 7x7 and 14x14 products of
    // ResNet-50 and MobileNetV2 took 0.94-1.07 of the column layout's time at 1 thread and
    // 0.77-0.96 at 2. Elsewhere, and for an im2col, whole tiles: DenseNet's 3x3 layers of 32
    // channels on 7x7 maps took 1.9x (1 thread) and 3.1x (2) their time in rows, with the
    // im2col pass that the column layout's gathered panels do without.
    const double row_cols =
        cpu_path() == CpuPath::Avx512 && !im2col
            ? double(n) / double(packed_gemm_computed_columns(PackedWeights::Layout::Rows, n))
            : fill(n, tile);
    const double rows = row_cols * fill(m, 4);        // rows in 4s
    const double columns = fill(n, 4) * fill(m, 32);  // columns in 4s, 32-row panels
    // The column kernel's tile stores want a long reduction: AVX-512 from k = 256 (measured
    // there); AVX2 from 1024. On a Zen 3 core (`nse_bench_gemm`, docs/cpu-paths.md) the 7x7
    // maps' products with 160-960 values gained 0-6 % in columns in quiet spells and lost
    // 7-25 % while another tenant shared the core; 512 x 49 x 4608 gained 5-18 % in both.
    const int64_t min_k = cpu_path() == CpuPath::Avx512 ? 256 : 1024;
    return k >= min_k && columns > 1.1 * rows ? PackedWeights::Layout::Columns
                                              : PackedWeights::Layout::Rows;
}

bool packed_gemm_available() { return cpu_path() != CpuPath::Generic; }
bool packed_gemm_rows_available() { return column_tile_kernel() != nullptr; }

int64_t packed_gemm_computed_columns(PackedWeights::Layout layout, int64_t n) {
    int64_t nr = 0;
    if (layout == PackedWeights::Layout::Rows && row_block_kernel(nr)) {
        // Whole tiles of two vectors; a last tile of at most one vector computes one. AVX-512's
        // column tails (at most 11 columns, after a vector or alone) issue a multiply-add of 16
        // lanes for 12 rows per column, where a vector tile issues 12 for 16 columns: 4/3 each.
        const int64_t whole = n / nr * nr, rest = n - whole;
        if (cpu_path() == CpuPath::Avx512 && rest > 0 && rest < 28) {
            const int64_t vector = rest > kAvx512TailColumns ? 16 : 0;
            const int64_t tail = std::max<int64_t>(0, rest - vector);
            return whole + (tail > kAvx512TailColumns ? 32 : vector + (4 * tail + 2) / 3);
        }
        return whole + (rest == 0 ? 0 : rest <= nr / 2 ? nr / 2 : nr);
    }
    int64_t computed = 0;
    for (int64_t i = 0; i < packed_column_panels(n); ++i) computed += packed_column_width(n, i);
    return computed;
}

namespace {
// Whether the last one or two columns join the panel before (AVX-512's kernel has the registers
// for 14 columns: 28 accumulators, 2 vectors of A and a broadcast).
bool merged_last_panel(int64_t n) {
    return cpu_path() == CpuPath::Avx512 && n > kMr && n % kMr >= 1 && n % kMr <= 2;
}
}  // namespace

int64_t packed_column_panels(int64_t n) {
    return merged_last_panel(n) ? n / kMr : (n + kMr - 1) / kMr;
}

int64_t packed_column_cols(int64_t n, int64_t i) {
    return i + 1 == packed_column_panels(n) ? n - i * kMr : std::min(kMr, n - i * kMr);
}

int64_t packed_column_width(int64_t n, int64_t i) {
    const int64_t cols = packed_column_cols(n, i);
    return cols > kMr ? cols : std::min(kMr, (cols + 3) / 4 * 4);
}

#if defined(__x86_64__)
namespace {

// B[k0.., j..j+cols) -> bp[kc][32], columns beyond `cols` zero.
__attribute__((target("avx512f"))) void pack_b(int64_t kc, const float* b, int64_t ldb,
                                               __mmask16 m0, __mmask16 m1, float* bp) {
    for (int64_t kk = 0; kk < kc; ++kk) {
        const float* row = b + kk * ldb;
        _mm512_store_ps(bp + kk * kNr, _mm512_maskz_loadu_ps(m0, row));
        _mm512_store_ps(bp + kk * kNr + 16, _mm512_maskz_loadu_ps(m1, row + 16));
    }
}

using Epilogue = GemmTileEpilogue;

// C[rows, 32-column tile] (+)= A panel (MR rows, kc values, k-major) x B[kc][32], B's rows
// `ldb` apart (kNr in a packed panel); lanes outside m0/m1 are neither read nor written.
// kPrefetchA: A is read for the first time in this block (kPrefetchAhead). NV: the vectors of
// columns computed, 1 for a last tile of at most 16 columns (m1 empty: a 14x14 map's 196 columns
// end in a tile of 4, which cost a whole tile's multiply-adds with 2).
template <int MR, bool kPrefetchA, int NV>
__attribute__((target("avx512f"), always_inline)) inline void micro_kernel(
    int64_t kc, const float* ap, const float* bp, int64_t ldb, float* c, int64_t ldc, int64_t rows,
    __mmask16 m0, __mmask16 m1, const Epilogue& e) {
    static_assert(NV == 1 || NV == 2, "one or two vectors of columns");
    __m512 lo[MR], hi[MR];
    for (int r = 0; r < MR; ++r) lo[r] = hi[r] = _mm512_setzero_ps();
    for (int64_t kk = 0; kk < kc; ++kk) {
        const __m512 b0 = _mm512_maskz_loadu_ps(m0, bp + kk * ldb);
        __m512 b1 = _mm512_setzero_ps();
        if constexpr (NV == 2) b1 = _mm512_maskz_loadu_ps(m1, bp + kk * ldb + 16);
        _mm_prefetch(reinterpret_cast<const char*>(bp + (kk + 8) * ldb), _MM_HINT_T0);
        if (kPrefetchA)
            _mm_prefetch(reinterpret_cast<const char*>(ap + (kk + kPrefetchAhead) * MR),
                         _MM_HINT_T0);
#pragma GCC unroll 12
        for (int r = 0; r < MR; ++r) {
            const __m512 a = _mm512_set1_ps(ap[kk * MR + r]);
            lo[r] = _mm512_fmadd_ps(a, b0, lo[r]);
            if constexpr (NV == 2) hi[r] = _mm512_fmadd_ps(a, b1, hi[r]);
        }
    }
    const __m512 zero = _mm512_setzero_ps(), six = _mm512_set1_ps(6.f);
    // Unrolled, with no early exit: a loop GCC cannot unroll indexes lo/hi at run time and keeps
    // them on the stack, storing every accumulator there on each value of K (K <= 16 products
    // ran at a quarter of the peak that way).
#pragma GCC unroll 12
    for (int r = 0; r < MR; ++r) {
        if (r >= rows) continue;
        float* cr = c + r * ldc;
        __m512 x = lo[r], y = hi[r];
        if (e.accumulate) {
            x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(m0, cr));
            if constexpr (NV == 2) y = _mm512_add_ps(y, _mm512_maskz_loadu_ps(m1, cr + 16));
        }
        if (e.last) {
            if (e.bias) {
                const __m512 bv = _mm512_set1_ps(e.bias[r]);
                x = _mm512_add_ps(x, bv);
                y = _mm512_add_ps(y, bv);
            }
            // (the masked forms: GCC 12 warns about its own header in the plain ones)
            if (e.act != Activation::None) {
                x = _mm512_mask_max_ps(x, 0xFFFF, x, zero);
                y = _mm512_mask_max_ps(y, 0xFFFF, y, zero);
            }
            if (e.act == Activation::Relu6) {
                x = _mm512_mask_min_ps(x, 0xFFFF, x, six);
                y = _mm512_mask_min_ps(y, 0xFFFF, y, six);
            }
        }
        _mm512_mask_storeu_ps(cr, m0, x);
        if constexpr (NV == 2) _mm512_mask_storeu_ps(cr + 16, m1, y);
    }
}

__mmask16 lanes(int64_t n) { return lane_mask(n); }

// micro_kernel for a panel of `pr` rows (12, 8 or 4).
template <int NV>
__attribute__((target("avx512f"), always_inline)) inline void tile(
    bool first_read, int64_t pr, int64_t kc, const float* ap, const float* bp, int64_t ldb,
    float* ct, int64_t ldc, int64_t rows, __mmask16 m0, __mmask16 m1, const Epilogue& e) {
    if (first_read) {
        if (pr == 12)
            micro_kernel<12, true, NV>(kc, ap, bp, ldb, ct, ldc, rows, m0, m1, e);
        else if (pr == 8)
            micro_kernel<8, true, NV>(kc, ap, bp, ldb, ct, ldc, rows, m0, m1, e);
        else
            micro_kernel<4, true, NV>(kc, ap, bp, ldb, ct, ldc, rows, m0, m1, e);
    } else if (pr == 12)
        micro_kernel<12, false, NV>(kc, ap, bp, ldb, ct, ldc, rows, m0, m1, e);
    else if (pr == 8)
        micro_kernel<8, false, NV>(kc, ap, bp, ldb, ct, ldc, rows, m0, m1, e);
    else
        micro_kernel<4, false, NV>(kc, ap, bp, ldb, ct, ldc, rows, m0, m1, e);
}

// C[rows, C columns] (+)= A panel (pr rows, kc values, k-major) x B[kc][C] (B's rows `ldb`
// apart) with the panel's rows in the lanes of one vector per column: the few columns left after
// a row of tiles (a 7x7 map's 49th), which a tile computed as a whole vector for one column. Per
// value of K one load of A and a broadcast of B per column; the columns' sums go to C through a
// small buffer (a row apart in C: one store per row).
template <int C>
__attribute__((target("avx512f"))) void column_tail(int64_t kc, const float* ap, int64_t pr,
                                                    const float* bp, int64_t ldb, float* c,
                                                    int64_t ldc, int64_t rows, const Epilogue& e) {
    const __mmask16 panel = lanes(pr), live = lanes(rows);
    __m512 acc[C];
    for (int j = 0; j < C; ++j) acc[j] = _mm512_setzero_ps();
    for (int64_t kk = 0; kk < kc; ++kk) {
        const __m512 a = _mm512_maskz_loadu_ps(panel, ap + kk * pr);
        for (int j = 0; j < C; ++j)
            acc[j] = _mm512_fmadd_ps(a, _mm512_set1_ps(bp[kk * ldb + j]), acc[j]);
    }
    const __m512 zero = _mm512_setzero_ps(), six = _mm512_set1_ps(6.f);
    alignas(64) float t[16];
    for (int j = 0; j < C; ++j) {
        __m512 x = acc[j];
        if (e.accumulate) {
            for (int64_t r = 0; r < rows; ++r) t[r] = c[r * ldc + j];
            x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(live, t));
        }
        if (e.last) {
            if (e.bias) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(live, e.bias));
            if (e.act != Activation::None) x = _mm512_mask_max_ps(x, 0xFFFF, x, zero);
            if (e.act == Activation::Relu6) x = _mm512_mask_min_ps(x, 0xFFFF, x, six);
        }
        _mm512_store_ps(t, x);
        for (int64_t r = 0; r < rows; ++r) c[r * ldc + j] = t[r];
    }
}

// column_tail over `cols` columns, at most 4 at a time.
__attribute__((target("avx512f"))) void column_tails(int64_t cols, int64_t kc, const float* ap,
                                                     int64_t pr, const float* bp, int64_t ldb,
                                                     float* c, int64_t ldc, int64_t rows,
                                                     const Epilogue& e) {
    for (int64_t j = 0; j < cols; j += 4) {
        const int64_t n = std::min<int64_t>(4, cols - j);
        if (n == 4)
            column_tail<4>(kc, ap, pr, bp + j, ldb, c + j, ldc, rows, e);
        else if (n == 3)
            column_tail<3>(kc, ap, pr, bp + j, ldb, c + j, ldc, rows, e);
        else if (n == 2)
            column_tail<2>(kc, ap, pr, bp + j, ldb, c + j, ldc, rows, e);
        else
            column_tail<1>(kc, ap, pr, bp + j, ldb, c + j, ldc, rows, e);
    }
}

// Panel p of A over values [k0, k0 + kc) of K against the tile of `cols` (<= 32) columns at j,
// B's rows ldb apart from bp: two vectors of columns, one, one and the column tails, or the
// tails alone.
__attribute__((target("avx512f"))) void run_panel(const PackedWeights& a, int64_t p, int64_t k0,
                                                  int64_t kc, const float* bp, int64_t ldb,
                                                  float* c, int64_t ldc, int64_t j, int64_t cols,
                                                  const float* bias, Activation act,
                                                  bool first_read) {
    const int64_t pr = a.panel_rows(p), row0 = p * kMr;
    const Epilogue e{k0 > 0, k0 + kc == a.k(), bias ? bias + row0 : nullptr, act};
    const float* ap = a.panel(p) + k0 * pr;
    float* ct = c + row0 * ldc + j;
    const int64_t rows = std::min(kMr, a.m() - row0);
    if (cols <= kAvx512TailColumns) {
        column_tails(cols, kc, ap, pr, bp, ldb, ct, ldc, rows, e);
    } else if (cols <= 16) {
        tile<1>(first_read, pr, kc, ap, bp, ldb, ct, ldc, rows, lanes(cols), 0, e);
    } else if (cols - 16 <= kAvx512TailColumns) {
        tile<1>(first_read, pr, kc, ap, bp, ldb, ct, ldc, rows, 0xFFFF, 0, e);
        column_tails(cols - 16, kc, ap, pr, bp + 16, ldb, ct + 16, ldc, rows, e);
    } else {
        tile<2>(first_read, pr, kc, ap, bp, ldb, ct, ldc, rows, 0xFFFF, lanes(cols - 16), e);
    }
}

// The rectangle of C made of A panels [p0, p1) and columns [n0, n1), on one thread.
__attribute__((target("avx512f"))) void gemm_block(const PackedWeights& a, int64_t p0, int64_t p1,
                                                   int64_t n0, int64_t n1, const float* b,
                                                   int64_t ldb, const float* bias, Activation act,
                                                   float* c, int64_t ldc) {
    const int64_t K = a.k();
    if (K <= kPackedGemmShortK) {
        // A reduction of a few values (MobileNetV2's 16 -> 96 expansion at 112x112): the
        // time goes into writing C, so each panel's rows are written in one sweep, reading B
        // where it lies; visiting every panel per column tile spread the writes over all M rows
        // (0.39-0.89 ms over runs against 0.59 this way). With longer reductions this order
        // re-reads B per panel and was up to 2x slower (K = 32-160).
        for (int64_t p = p0; p < p1; ++p)
            for (int64_t j = n0; j < n1; j += kNr) {
                const int64_t cols = std::min(kNr, n1 - j);
                run_panel(a, p, 0, K, b + j, ldb, c, ldc, j, cols, bias, act, j == n0);
            }
        return;
    }
    alignas(64) float bp[kKc * kNr];
    for (int64_t k0 = 0; k0 < K; k0 += kKc) {
        const int64_t kc = std::min(kKc, K - k0);
        for (int64_t pa = p0; pa < p1; pa += kMcPanels) {
            const int64_t pb = std::min(p1, pa + kMcPanels);
            for (int64_t j = n0; j < n1; j += kNr) {
                const int64_t cols = std::min(kNr, n1 - j);
                const __mmask16 m0 = lanes(cols), m1 = lanes(std::max<int64_t>(0, cols - 16));
                pack_b(kc, b + k0 * ldb + j, ldb, m0, m1, bp);
                for (int64_t p = pa; p < pb; ++p)
                    run_panel(a, p, k0, kc, bp, kNr, c, ldc, j, cols, bias, act, j == n0);
            }
        }
    }
}

// Column layout. B's columns in panels of kMr (the last one 4, 8 or 12 wide, zero-padded),
// k-major: bt[kk * width + p] = B[kk][j0 + p].
__attribute__((target("avx512f"))) void pack_columns(int64_t K, const float* b, int64_t ldb,
                                                     int64_t cols, int64_t width, float* bt) {
    const __mmask16 load = lanes(cols), store = lanes(width);
    for (int64_t kk = 0; kk < K; ++kk)
        _mm512_mask_storeu_ps(bt + kk * width, store, _mm512_maskz_loadu_ps(load, b + kk * ldb));
}

// B's columns from the rows of x (a linear layer's tokens: B = x^T): panel of `rows` rows of x
// (row stride ldx), `width` wide, k-major, bt[kk * width + p] = x[p][kk]; one gather per kk.
__attribute__((target("avx512f"))) void pack_rows_as_columns(int64_t K, const float* x, int64_t ldx,
                                                             int64_t rows, int64_t width,
                                                             float* bt) {
    const __m512i index =
        _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                           _mm512_set1_epi32(int32_t(ldx)));
    const __mmask16 load = lanes(rows), store = lanes(width);
    for (int64_t kk = 0; kk < K; ++kk)
        _mm512_mask_storeu_ps(
            bt + kk * width, store,
            _mm512_mask_i32gather_ps(_mm512_setzero_ps(), load, index, x + kk, 4));
}

// C^T tile: PR columns of C (a panel of bt) by the 32 rows of a column panel of A, over one block
// of K (kc values; bt and ap point at its start). The sums start from `acc` (PR x 32, k-major
// tile order) where `resume`, and go back there unless this is the last block, whose tile is
// stored transposed into C through a small buffer, with bias and activation. `pf` (may be
// null): part of the next block of A, `lines` cache lines of it fetched into L2 every second
// value of K.
template <int PR>
__attribute__((target("avx512f"))) void micro_kernel_t(int64_t kc, const float* bt, const float* ap,
                                                       float* acc, bool resume, bool last,
                                                       const ColumnTileOut& out, const float* pf,
                                                       int lines) {
    __m512 lo[PR], hi[PR];
    for (int p = 0; p < PR; ++p) {
        lo[p] = resume ? _mm512_load_ps(acc + p * 32) : _mm512_setzero_ps();
        hi[p] = resume ? _mm512_load_ps(acc + p * 32 + 16) : _mm512_setzero_ps();
    }
    for (int64_t kk = 0; kk < kc; ++kk) {
        const __m512 a0 = _mm512_loadu_ps(ap + kk * 32), a1 = _mm512_loadu_ps(ap + kk * 32 + 16);
        _mm_prefetch(reinterpret_cast<const char*>(ap + (kk + 8) * 32), _MM_HINT_T0);
        if (pf && (kk & 1) == 0)
            for (int l = 0; l < lines; ++l)
                _mm_prefetch(reinterpret_cast<const char*>(pf + (kk / 2 * lines + l) * 16),
                             _MM_HINT_T1);
#pragma GCC unroll 14  // PR: up to 14 (a merged last panel)
        for (int p = 0; p < PR; ++p) {
            const __m512 bv = _mm512_set1_ps(bt[kk * PR + p]);
            lo[p] = _mm512_fmadd_ps(bv, a0, lo[p]);
            hi[p] = _mm512_fmadd_ps(bv, a1, hi[p]);
        }
    }
    if (last && out.transposed) {
        // Tile row p is row p of C^T: 32 (or `rows`) features of one token.
        const __mmask16 m0 = lanes(out.rows), m1 = lanes(std::max<int64_t>(0, out.rows - 16));
        const __m512 b0 = out.bias ? _mm512_maskz_loadu_ps(m0, out.bias) : _mm512_setzero_ps();
        const __m512 b1 = out.bias ? _mm512_maskz_loadu_ps(m1, out.bias + 16) : _mm512_setzero_ps();
        const __m512 zero = _mm512_setzero_ps(), six = _mm512_set1_ps(6.f);
        for (int p = 0; p < PR && p < out.cols; ++p) {
            __m512 v0 = _mm512_add_ps(lo[p], b0), v1 = _mm512_add_ps(hi[p], b1);
            if (out.act != Activation::None) {  // (masked forms: see the gather's below)
                v0 = _mm512_mask_max_ps(v0, 0xFFFF, v0, zero);
                v1 = _mm512_mask_max_ps(v1, 0xFFFF, v1, zero);
            }
            if (out.act == Activation::Relu6) {
                v0 = _mm512_mask_min_ps(v0, 0xFFFF, v0, six);
                v1 = _mm512_mask_min_ps(v1, 0xFFFF, v1, six);
            }
            if (out.gelu) {
                v0 = avx512_math::gelu16(v0);
                if (out.rows > 16) v1 = avx512_math::gelu16(v1);
            }
            _mm512_mask_storeu_ps(out.c + p * out.ldc, m0, v0);
            _mm512_mask_storeu_ps(out.c + p * out.ldc + 16, m1, v1);
        }
        return;
    }
    alignas(64) float t[PR][32];
    float* dst = last ? &t[0][0] : acc;
    for (int p = 0; p < PR; ++p) {
        _mm512_store_ps(dst + p * 32, lo[p]);
        _mm512_store_ps(dst + p * 32 + 16, hi[p]);
    }
    if (!last) return;
    // Row r of C is column r of the tile: one gather (lanes 32 floats apart), bias and activation
    // in a vector, one store. (Element by element, the activation's clamp made relu6 layers
    // 10-20 % slower than plain ones on this path.)
    const __m512i index =
        _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                           _mm512_set1_epi32(32));
    const __mmask16 m = lanes(out.cols);
    const __m512 zero = _mm512_setzero_ps(), six = _mm512_set1_ps(6.f);
    for (int64_t r = 0; r < out.rows; ++r) {
        __m512 v = _mm512_mask_i32gather_ps(zero, m, index, &t[0][r], 4);
        if (out.bias) v = _mm512_add_ps(v, _mm512_set1_ps(out.bias[r]));
        if (out.act != Activation::None) v = _mm512_mask_max_ps(v, 0xFFFF, v, zero);
        if (out.act == Activation::Relu6) v = _mm512_mask_min_ps(v, 0xFFFF, v, six);
        _mm512_mask_storeu_ps(out.c + r * out.ldc, m, v);
    }
}

// The column layout's group of tiles on AVX-512 (simd_kernels.h's gemm_column_tiles contract),
// one after the other: a 32 KB block of A and a B panel fit the L1 of AVX-512 cores.
void column_tiles(int64_t g, const ColumnTile* tiles, int64_t kc, const float* ap, bool resume,
                  bool last) {
    for (int64_t q = 0; q < g; ++q) {
        const ColumnTile& t = tiles[q];
        if (t.w == 12)
            micro_kernel_t<12>(kc, t.bt, ap, t.acc, resume, last, t.out, t.pf, t.lines);
        else if (t.w == 13)
            micro_kernel_t<13>(kc, t.bt, ap, t.acc, resume, last, t.out, t.pf, t.lines);
        else if (t.w == 14)
            micro_kernel_t<14>(kc, t.bt, ap, t.acc, resume, last, t.out, t.pf, t.lines);
        else if (t.w == 8)
            micro_kernel_t<8>(kc, t.bt, ap, t.acc, resume, last, t.out, t.pf, t.lines);
        else
            micro_kernel_t<4>(kc, t.bt, ap, t.acc, resume, last, t.out, t.pf, t.lines);
    }
}

}  // namespace
#endif

namespace {

ColumnTilesFn column_tile_kernel() {
    switch (cpu_path()) {
#if defined(__x86_64__)
        case CpuPath::Avx512:
            return column_tiles;
        case CpuPath::Avx2:
            return avx2::gemm_column_tiles;
#endif
#if defined(__aarch64__)
        case CpuPath::Neon:
            return neon::gemm_column_tiles;
#endif
        default:
            return nullptr;
    }
}

// A column panel of B (`cols` real columns, `width` wide, k-major) from B's rows, or from the
// rows of x (B = x^T: a linear layer's tokens).
using PackFn = void (*)(int64_t K, const float* b, int64_t ldb, int64_t cols, int64_t width,
                        float* bt);
void pack_columns_portable(int64_t K, const float* b, int64_t ldb, int64_t cols, int64_t width,
                           float* bt) {
    for (int64_t kk = 0; kk < K; ++kk) {
        const float* row = b + kk * ldb;
        float* out = bt + kk * width;
        int64_t p = 0;
        for (; p < cols; ++p) out[p] = row[p];
        for (; p < width; ++p) out[p] = 0.f;
    }
}
void pack_rows_as_columns_portable(int64_t K, const float* x, int64_t ldx, int64_t rows,
                                   int64_t width, float* bt) {
    for (int64_t p = 0; p < width; ++p) {
        const float* row = x + p * ldx;
        for (int64_t kk = 0; kk < K; ++kk) bt[kk * width + p] = p < rows ? row[kk] : 0.f;
    }
}
PackFn pack_columns_kernel() {
#if defined(__x86_64__)
    if (cpu_path() == CpuPath::Avx512) return pack_columns;
#endif
    return pack_columns_portable;
}
PackFn pack_rows_kernel() {
#if defined(__x86_64__)
    if (cpu_path() == CpuPath::Avx512) return pack_rows_as_columns;
#endif
    return pack_rows_as_columns_portable;
}

// Column panels of B that pass one block of an A panel before the next block (their sums wait
// in a buffer on the stack, 1.5 KB each).
constexpr int64_t kColumnGroup = 16;

// C = act(A B + bias) with A in column panels and B already in column panels (bt). Each thread
// takes a contiguous range of (A panel, B panel) tiles, A-panel-major, and goes through an A
// panel in blocks of kKc values of K: a block (32 KB) stays in L1 while the B panels of its range
// pass it, and the next block is fetched into L2 meanwhile, spread over the first passes (a
// quarter per pass where four or more pass, half or all of it where fewer do). (Over all
// of K at once, the first B panel to pass an A panel waited for it from memory at up to 2x its
// compute time: ResNet-18's 7x7 layers read 9.4 MB of weights each.)
void gemm_columns_prepacked(ThreadPool& pool, const PackedWeights& a, int64_t n, const float* bt,
                            const float* bias, Activation act, float* c, int64_t ldc,
                            bool transposed = false, bool gelu = false) {
    const ColumnTilesFn tiles_fn = column_tile_kernel();
    NSE_CHECK(tiles_fn, ErrorCode::Internal, "packed_gemm's column layout has no kernel for the ",
              cpu_path_name(cpu_path()), " path");
    const int64_t K = a.k(), M = a.m(), col_panels = packed_column_panels(n);
    const int64_t tiles = a.panels() * col_panels, blocks = (K + kKc - 1) / kKc;
    // Groups of even size: 17 panels (14x14 maps, 197 tokens) as 9 + 8, not 16 + 1, whose lone
    // pass had to fetch the whole next block of A (from memory, for weights that do not stay
    // cached) in the time of one pass.
    const int64_t groups = (col_panels + kColumnGroup - 1) / kColumnGroup;
    const int64_t group = (col_panels + groups - 1) / groups;
    pool.parallel_for(tiles, 2.0 * double(M) * double(n) * double(K), [&](int64_t t0, int64_t t1) {
        alignas(64) float acc[kColumnGroup][(kMr + 2) * 32];  // (a last panel of 14)
        for (int64_t t = t0; t < t1;) {
            // Tiles [t, te): B panels [i0, i0 + g) of A panel j.
            const int64_t j = t / col_panels, i0 = t % col_panels;
            const int64_t g = std::min({group - i0 % group, col_panels - i0, t1 - t}), te = t + g;
            const int64_t row0 = j * PackedWeights::kColumnPanelRows;
            const float* panel = a.panel(j);
            const bool next_panel = te == (j + 1) * col_panels && te < t1;
            for (int64_t b = 0; b < blocks; ++b) {
                const int64_t k0 = b * kKc, kc = std::min(kKc, K - k0);
                // The block after this one: of this panel, or the next panel's first.
                const float* next = b + 1 < blocks ? panel + (k0 + kKc) * 32
                                    : next_panel   ? a.panel(j + 1)
                                                   : nullptr;
                ColumnTile group_tiles[kColumnGroup];
                for (int64_t q = 0; q < g; ++q) {
                    const int64_t i = i0 + q;
                    const int64_t w = packed_column_width(n, i);
                    // The next block's 2 kc lines over min(g, 4) passes: `lines` per 2 values.
                    const int lines = g >= 4 ? 1 : g >= 2 ? 2 : 4;
                    group_tiles[q] = ColumnTile{
                        w,
                        bt + i * kMr * K + k0 * w,
                        acc[q],
                        ColumnTileOut{
                            transposed ? c + i * kMr * ldc + row0 : c + row0 * ldc + i * kMr, ldc,
                            packed_column_cols(n, i),
                            std::min(PackedWeights::kColumnPanelRows, M - row0),
                            bias ? bias + row0 : nullptr, act, transposed, gelu},
                        next && q * lines < 4 ? next + q * kc * 8 * lines : nullptr,
                        lines};
                }
                tiles_fn(g, group_tiles, kc, panel + k0 * 32, b > 0, b + 1 == blocks);
            }
            t = te;
        }
    });
}

// The same with B row-major: packed into column panels first (split over the pool).
void gemm_columns(ThreadPool& pool, const PackedWeights& a, int64_t n, const float* b, int64_t ldb,
                  const float* bias, Activation act, float* c, int64_t ldc, float* bt) {
    const int64_t K = a.k(), col_panels = packed_column_panels(n);
    const PackFn pack = pack_columns_kernel();
    pool.parallel_for(col_panels, kFlopsPerElement * double(n) * double(K),
                      [&](int64_t i0, int64_t i1) {
                          for (int64_t i = i0; i < i1; ++i)
                              pack(K, b + i * kMr, ldb, packed_column_cols(n, i),
                                   packed_column_width(n, i), bt + i * kMr * K);
                      });
    gemm_columns_prepacked(pool, a, n, bt, bias, act, c, ldc);
}

// y = act(x a^T + bias) for x's n rows: x packed straight into column panels, C^T stored as is.
void gemm_columns_rows(ThreadPool& pool, const PackedWeights& a, int64_t n, const float* x,
                       int64_t ldx, const float* bias, Activation act, bool gelu, float* y,
                       int64_t ldy, float* bt) {
    const int64_t K = a.k(), col_panels = packed_column_panels(n);
    const PackFn pack = pack_rows_kernel();
    pool.parallel_for(col_panels, kFlopsPerElement * double(n) * double(K),
                      [&](int64_t i0, int64_t i1) {
                          for (int64_t i = i0; i < i1; ++i)
                              pack(K, x + i * kMr * ldx, ldx, packed_column_cols(n, i),
                                   packed_column_width(n, i), bt + i * kMr * K);
                      });
    gemm_columns_prepacked(pool, a, n, bt, bias, act, y, ldy, true, gelu);
}

}  // namespace

namespace {
RowBlockFn row_block_kernel(int64_t& tile_cols) {
    switch (cpu_path()) {
#if defined(__x86_64__)
        case CpuPath::Avx512:
            tile_cols = kNr;
            return gemm_block;
        case CpuPath::Avx2:
            tile_cols = avx2::gemm_tile_cols();
            return avx2::gemm_block;
#endif
#if defined(__aarch64__)
        case CpuPath::Neon:
            tile_cols = neon::gemm_tile_cols();
            return neon::gemm_block;
#endif
        default:
            return nullptr;
    }
}
}  // namespace

void packed_gemm(ThreadPool& pool, const PackedWeights& a, int64_t n, const float* b, int64_t ldb,
                 const float* bias, Activation act, float* c, int64_t ldc, float* workspace) {
    if (a.layout() == PackedWeights::Layout::Columns)
        return gemm_columns(pool, a, n, b, ldb, bias, act, c, ldc, workspace);
    int64_t nr = 0;
    const RowBlockFn block = row_block_kernel(nr);
    NSE_CHECK(block, ErrorCode::Internal, "packed_gemm has no kernel for the ",
              cpu_path_name(cpu_path()), " path");
    const int64_t panels = a.panels(), col_tiles = (n + nr - 1) / nr;
    const int threads = pool.size();
    const double flops = 2.0 * double(a.m()) * double(n) * double(a.k());
    // Columns are split while each thread keeps >= 128 of them (B packed once per thread);
    // narrower maps (7x7, 14x14) are split by rows of C instead, unless C has so few panels that
    // its columns share out evenly: a tenth less work on the busiest thread (DenseNet's 3x3
    // layers of 32 channels on 14x14 maps: 3 panels split 1 + 2, 1.44x at 2 threads).
    int64_t tn = std::clamp<int64_t>(n / kMinColsPerThread, 1, threads);
    int64_t tm = std::clamp<int64_t>(threads / tn, 1, panels);
    if (tn == 1 && tm > 1 && col_tiles >= tm) {
        int64_t rows_busiest = 0, rows_all = 0;  // rows of the largest share of panels, of all
        for (int64_t i = 0; i < tm; ++i) {
            int64_t rows = 0;
            for (int64_t p = panels * i / tm; p < panels * (i + 1) / tm; ++p)
                rows += a.panel_rows(p);
            rows_busiest = std::max(rows_busiest, rows);
            rows_all += rows;
        }
        int64_t cols_busiest = 0;  // columns the largest share of column tiles computes
        for (int64_t j = 0; j < tm; ++j) {
            const int64_t n0 = std::min(n, col_tiles * j / tm * nr);
            const int64_t n1 = std::min(n, col_tiles * (j + 1) / tm * nr);
            cols_busiest = std::max(
                cols_busiest, packed_gemm_computed_columns(PackedWeights::Layout::Rows, n1 - n0));
        }
        const double by_rows = double(rows_busiest) *
                               double(packed_gemm_computed_columns(PackedWeights::Layout::Rows, n));
        const double by_cols = double(rows_all) * double(cols_busiest);
        if (by_cols < 0.9 * by_rows) std::swap(tn, tm);
    }
    if (flops < kMinParallelWork) tn = tm = 1;
    pool.parallel_for(tn * tm, [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; ++t) {
            const int64_t i = t / tn, j = t % tn;
            const int64_t p0 = panels * i / tm, p1 = panels * (i + 1) / tm;
            const int64_t n0 = std::min(n, col_tiles * j / tn * nr);
            const int64_t n1 = std::min(n, col_tiles * (j + 1) / tn * nr);
            if (p1 > p0 && n1 > n0) block(a, p0, p1, n0, n1, b, ldb, bias, act, c, ldc);
        }
    });
}

void packed_gemm_rows(ThreadPool& pool, const PackedWeights& a, int64_t n, const float* x,
                      int64_t ldx, const float* bias, Activation act, bool gelu, float* y,
                      int64_t ldy, float* workspace) {
    NSE_CHECK(a.layout() == PackedWeights::Layout::Columns, ErrorCode::Internal,
              "packed_gemm_rows needs the column layout");
    gemm_columns_rows(pool, a, n, x, ldx, bias, act, gelu, y, ldy, workspace);
}

void packed_gemm_prepacked(ThreadPool& pool, const PackedWeights& a, int64_t n, const float* bt,
                           const float* bias, Activation act, float* c, int64_t ldc) {
    NSE_CHECK(a.layout() == PackedWeights::Layout::Columns, ErrorCode::Internal,
              "packed_gemm_prepacked needs the column layout");
    gemm_columns_prepacked(pool, a, n, bt, bias, act, c, ldc);
}

}  // namespace nse
