// CPU fully connected layer. A few rows (an image's features, a batch of them) run as a
// weight-streaming GEMV (kernels/cpu/gemm.h), whose rows of a batch equal the rows run alone bit
// for bit; many rows (a transformer's tokens) as the packed GEMM of the convolutions with W
// packed once: on AVX-512 its column-layout kernel reads x's rows and writes y's directly
// (packed_gemm_rows), elsewhere the transposed problem y^T = W x^T runs between two transposes.
// Either way every token is one column of the GEMM, computed the same way whatever the other
// rows are.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/cpu/packed_gemm.h"
#include "kernels/shapes.h"

namespace nse {

class ThreadPool;

// x:[M, I] w:[O, I] b:[O] (may be null) -> y:[M, O], y = act(x w^T + b).
void linear_f32_cpu(ThreadPool& pool, int64_t m, int64_t in, int64_t out, const float* x,
                    const float* w, const float* b, Activation act, float* y);

// Rows per image from which a linear layer runs as linear_tokens_f32_cpu (where the packed GEMM
// exists on the path in use).
constexpr int64_t kLinearTokenRows = 8;

// The packing of W [out, in] for linear_tokens_f32_cpu at m rows: the column layout, which
// packed_gemm_rows runs without transposing x or y, on AVX-512 always and on AVX2 and NEON for
// reductions of 256 or more (shorter ones gained nothing there: the tile's stores weigh more);
// else packed_layout_for's choice, between two transposes.
PackedWeights::Layout linear_tokens_layout(int64_t m, int64_t in, int64_t out);
// Workspace floats of linear_tokens_f32_cpu for m rows and weights w (packed from [O, I]).
size_t linear_tokens_workspace_floats(const PackedWeights& w, int64_t m);
// The same product for many rows: y[M, O] = act(x[M, I] w^T + b), w packed from [O, I];
// `gelu`: then GELU (a transformer MLP's first layer; on AVX-512 as the values are stored).
void linear_tokens_f32_cpu(ThreadPool& pool, int64_t m, const PackedWeights& w, const float* x,
                           const float* b, Activation act, bool gelu, float* y, float* workspace);

// y[c][r] = x[r][c] for x:[rows, cols] (blocked, split over the pool).
void transpose_f32_cpu(ThreadPool& pool, int64_t rows, int64_t cols, const float* x, float* y);

}  // namespace nse
