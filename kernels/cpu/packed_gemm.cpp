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
constexpr int64_t kNr = 32;   // columns per micro-tile: two AVX-512 vectors
constexpr int64_t kKc = 256;  // values of K per packed B panel (32 KB)
constexpr int64_t kMinColsPerThread = 128;
}  // namespace

PackedWeights::PackedWeights(int64_t m, int64_t k, const float* a, int64_t lda, Layout layout)
    : layout_(layout), m_(m), k_(k) {
    NSE_CHECK(m > 0 && k > 0, ErrorCode::Internal, "packed weights need M, K > 0");
    const int64_t last = panel_rows(panels() - 1);
    const size_t count = size_t(((panels() - 1) * height() + last) * k + kSlackFloats);
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
        // Whole tiles of two vectors, then the last tile's: a vector where the columns left fit
        // one, and column tails. AVX-512's (at most 11 columns, after a vector or alone) issue a
        // multiply-add of 16 lanes for 12 rows per column, where a vector tile issues 12 for 16
        // columns: 4/3 each; AVX2's and NEON's count in gemm_last_tile_columns (simd/gemm_body.h).
        const int64_t whole = n / nr * nr, rest = n - whole;
        if (cpu_path() == CpuPath::Avx512 && rest > 0 && rest < 28) {
            const int64_t vector = rest > kAvx512GemmTailColumns ? 16 : 0;
            const int64_t tail = std::max<int64_t>(0, rest - vector);
            return whole + (tail > kAvx512GemmTailColumns ? 32 : vector + (4 * tail + 2) / 3);
        }
#if defined(__x86_64__)
        if (cpu_path() == CpuPath::Avx2) return whole + avx2::gemm_last_tile_columns(rest);
#endif
#if defined(__aarch64__)
        if (cpu_path() == CpuPath::Neon) return whole + neon::gemm_last_tile_columns(rest);
#endif
        return whole + (rest == 0 ? 0 : nr);
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

__mmask16 lanes(int64_t n) { return lane_mask(n); }

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
            return avx512::gemm_block;
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
