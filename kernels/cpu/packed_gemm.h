// An own single-precision GEMM for the convolutions, on the avx512, avx2 and neon paths
// (cpu_features.h):
//   C[M, N] = act(A[M, K] B[K, N] + bias)
// A (the weights) is packed once, when the model is loaded, into panels of up to 12 rows stored
// k-major, so the micro-kernel reads it as one stream; B (the input of a 1x1 convolution or an
// im2col tile, row-major) is packed per call into 32-column panels, 256 values of K at a time,
// eight panels (256 columns) at once, each panel of A then running over all eight (C's rows are
// written 1 KB at a time); a 12 x 32 block of C stays in 24 AVX-512 registers over the K loop,
// and the bias and activation are applied as the last block of K is stored. That is the
// AVX-512 kernel; AVX2 and NEON run the same panels through simd/gemm_body.h (6 x 16 and 12 x 8
// tiles) and simd/gemm_columns_body.h (the column layout). OpenBLAS (gemm.h) remains the
// generic path.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "kernels/shapes.h"

namespace nse {

class ThreadPool;

class PackedWeights {
  public:
    // Rows: panels of up to 12 rows of A, whose products with 32-column tiles of B stay in
    // registers. Columns: panels of 32 rows, for C computed transposed (12 columns of C by 32
    // rows at a time), where C has too few columns to fill 32-wide tiles (7x7 maps: 49 columns
    // fill 77 % of two tiles, and 94 % of 12 + 12 + 12 + 12 + 4).
    enum class Layout { Rows, Columns };
    static constexpr int64_t kPanelRows = 12;
    static constexpr int64_t kColumnPanelRows = 32;
    // Zeros after the last panel: the AVX2 and NEON column tails (simd/gemm_body.h) load whole
    // vectors of a panel's rows, past a 4-row panel's last value by up to 4 floats.
    static constexpr int64_t kSlackFloats = 16;

    PackedWeights() = default;
    // Packs A[M, K] (row stride lda). A last row panel is zero-padded to 4, 8 or 12 rows, a
    // last column panel to 32.
    PackedWeights(int64_t m, int64_t k, const float* a, int64_t lda, Layout layout = Layout::Rows);

    Layout layout() const { return layout_; }
    int64_t m() const { return m_; }
    int64_t k() const { return k_; }
    bool empty() const { return m_ == 0; }
    int64_t panels() const { return (m_ + height() - 1) / height(); }
    // Rows the kernel runs for panel i (Rows: 4, 8 or 12; Columns: 32; those beyond m() are 0).
    int64_t panel_rows(int64_t i) const;
    // Panel i: element (row r, column kk) at panel(i)[kk * panel_rows(i) + r].
    const float* panel(int64_t i) const { return data_.get() + i * height() * k_; }

  private:
    int64_t height() const { return layout_ == Layout::Rows ? kPanelRows : kColumnPanelRows; }

    Layout layout_ = Layout::Rows;
    int64_t m_ = 0, k_ = 0;
    // 64-byte aligned (the micro-kernels' loads of A then never straddle cache lines); shared
    // by copies, never written after packing.
    std::shared_ptr<float> data_;
};

// What a micro-kernel does with a tile of C as it stores it (every path's kernel takes one).
struct GemmTileEpilogue {
    bool accumulate;    // add to what C holds (a later block of K)
    bool last;          // the last block of K: bias and activation, then C is final
    const float* bias;  // rows of this tile, or null
    Activation act;
};

// Where a tile of the column layout (C computed transposed) goes when its last block of K is
// done: columns `cols` x rows `rows` of C from `c` (row stride ldc), with bias (per row, may be
// null) and activation. `transposed`: C^T itself is wanted (a linear layer's output, tokens by
// features): `c` is then C^T's element (column, row) and ldc its row stride, and the tile goes
// out as it is, no transpose.
struct ColumnTileOut {
    float* c;
    int64_t ldc, cols, rows;
    const float* bias;
    Activation act;
    bool transposed = false;
    bool gelu = false;  // (transposed only) GELU after the bias: a transformer MLP's first layer
};

// A panel of B passing one block of K of a 32-row panel of A in the column layout (a group of
// them passes each block in turn, their sums waiting in `acc` between blocks).
struct ColumnTile {
    int64_t w;          // the B panel's width: 12, 8 or 4 columns (AVX-512: 13, 14)
    const float* bt;    // the B panel, at this block of K (k-major, w values per K)
    float* acc;         // its sums between blocks: w x 32, column-major
    ColumnTileOut out;  // where they go after the last block
    const float* pf;    // part of the next block of A fetched into L2 meanwhile, or null:
    int lines;          // `lines` cache lines every second value of K
};

// The layout for C[m, n] = A[m, k] B: Columns where C's columns fill the row layout's tiles (32
// wide on AVX-512, 16 on AVX2, 8 on NEON) at least a tenth worse than steps of 4 would and the
// reduction is long enough (AVX-512 k >= 256, elsewhere k >= 1024); Rows otherwise, and always
// on the generic path. On AVX-512 the row layout's one-vector tile and column tails count as
// the columns they compute (a 7x7 map's 49 as 50) where B is where it lies (`im2col` false);
// where B is a convolution's im2col, whole tiles count, for the column layout gathers its panels
// straight from the input and saves the im2col pass the row layout needs.
PackedWeights::Layout packed_layout_for(int64_t m, int64_t n, int64_t k, bool im2col = false);

// Columns AVX-512's row layout leaves to its column tails: up to this many after the first vector
// of a last tile, or all of a last tile this narrow (a vector of 16 lanes for 12 columns still
// does more per multiply-add than a panel's 12 rows in the lanes).
constexpr int64_t kAvx512GemmTailColumns = 11;

// Reductions of at most this many values run the micro-kernels on B where it lies, each panel
// of A over all columns in one sweep (the time goes into writing C), instead of packing B.
constexpr int64_t kPackedGemmShortK = 16;

// Whether packed_gemm can run on the path in use (any but generic).
bool packed_gemm_available();

// Scratch floats packed_gemm needs for A of this layout and k columns times B of n columns (the
// column layout packs all of B first; the row layout packs it into a buffer of each thread's).
size_t packed_gemm_workspace_floats(PackedWeights::Layout layout, int64_t n, int64_t k);

// The columns of C the micro-kernels compute for n real ones: in the row layout whole tiles of
// two vectors (32 columns on AVX-512, 16 on AVX2, 8 on NEON), the last one a single vector where
// the columns left fit one, and column tails (a panel's rows in the lanes) for the few left after
// it, counted by their multiply-adds; in the column layout the column panels' widths.
int64_t packed_gemm_computed_columns(PackedWeights::Layout layout, int64_t n);

// The column layout's panels of B, as packed_gemm packs them into its workspace: panel i (of
// packed_column_panels(n)) holds columns [12 i, 12 i + packed_column_cols(n, i)) k-major,
// bt[12 i K + kk w + p] = B[kk][12 i + p], w = packed_column_width(n, i): 12, or for the last
// panel 4, 8 or 12 — on AVX-512, where one or two columns would be left after a whole panel, a
// last panel of 13 or 14 (a 7x7 map's 49 columns: 12 + 12 + 12 + 13, not a fifth panel of 4 for
// one column, which streamed all of A again: 400 x 49 x 400 at 84 GFLOP/s against 99 on 48
// columns). Columns beyond n are zero.
int64_t packed_column_panels(int64_t n);
int64_t packed_column_cols(int64_t n, int64_t i);
int64_t packed_column_width(int64_t n, int64_t i);

// C = act(A B + bias) for A in the column layout and B already in its panels (bt, as above):
// for callers that build the panels straight from their source (im2col_column_panels).
void packed_gemm_prepacked(ThreadPool& pool, const PackedWeights& a, int64_t n, const float* bt,
                           const float* bias, Activation act, float* c, int64_t ldc);

// Whether packed_gemm_rows can run on the path in use (AVX-512: the column layout's kernel).
bool packed_gemm_rows_available();

// y = act(x A^T + bias) for x [n, K] (row stride ldx) and A [M, K] packed in the column layout:
// C^T of C = A x^T, without transposing x or C (x's rows are packed as B's column panels, the
// kernel's C^T tiles stored as they are); y is [n, M] with row stride ldy, bias has M values.
// A linear layer over token rows; `gelu`: GELU (unary.h's) applied to each value as it is
// stored, after the bias. `workspace` holds packed_gemm_workspace_floats(Columns, n, K).
void packed_gemm_rows(ThreadPool& pool, const PackedWeights& a, int64_t n, const float* x,
                      int64_t ldx, const float* bias, Activation act, bool gelu, float* y,
                      int64_t ldy, float* workspace);

// C = act(A B + bias) with A packed; B is K x N with row stride ldb, C is M x N with row stride
// ldc; bias (M values) may be null; `workspace` holds packed_gemm_workspace_floats(a.layout(), n,
// a.k()) floats (null where that is 0). Split over the thread pool by column or row blocks. Either
// layout of A computes any shape.
void packed_gemm(ThreadPool& pool, const PackedWeights& a, int64_t n, const float* b, int64_t ldb,
                 const float* bias, Activation act, float* c, int64_t ldc, float* workspace);

}  // namespace nse
