// 3x3 stride-1 convolutions by Winograd's minimal filtering F(4x4, 3x3) and, on small maps,
// F(2x2, 3x3) (Lavin & Gray 2016): each 6x6 (4x4) input tile and each filter are transformed
// once, the 36 (16) transform positions become independent GEMMs (output channels x input
// channels x tiles), and each product tile transforms back to a 4x4 (2x2) output tile. F(4x4):
// 36 multiplies per 16 outputs and input channel instead of 144, 4x less GEMM work than im2col,
// for the transforms and a slightly larger rounding error (about 1e-6 relative per layer with
// the points 0, +-1, +-2, 1/2 used here; tested). F(2x2): 2.25x less.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/cpu/packed_gemm.h"
#include "kernels/shapes.h"

namespace nse {

// The output tile side Conv2d runs `shape` with: 4 (F(4x4, 3x3)) for 3x3, stride 1, dilation 1,
// ungrouped convolutions with at least 16 input and output channels on maps with at least 25
// tiles of 4x4 (17x17 and up; measured at 1 thread against im2col: 3.4x faster at 56x56 x 64
// channels, 2-2.4x at 28x28); 2 (F(2x2, 3x3): 16 multiplies per 4 outputs and input channel
// instead of 36, exact transforms) for the smaller maps with at least 36 tiles of 2x2 and 128
// channels in and out (ResNet-18's and VGG16's 14x14 layers); 0 where neither runs.
int winograd_tile(const ConvShape& shape);
bool winograd_applies(const ConvShape& shape);  // winograd_tile(shape) != 0

// Transform positions of a tile size: 36 for 4, 16 for 2.
int64_t winograd_positions(int tile);
// Floats of the transformed weights of a [K, C, 3, 3] filter.
size_t winograd_weight_floats(int tile, int64_t k, int64_t c);
// w:[K, C, 3, 3] -> u:[positions][K][C], u = G w G^T for each (k, c).
void winograd_transform_weights(int tile, int64_t k, int64_t c, const float* w, float* u);

// Scratch floats winograd_conv2d_f32_cpu needs for `shape` on `threads` threads.
size_t winograd_workspace_floats(const ConvShape& shape, int threads);
// Output tiles per image, and how many chunks of them run one after another (the transformed
// weights are read once per chunk).
int64_t winograd_tiles(const ConvShape& shape);
int64_t winograd_chunks(const ConvShape& shape);

// The share of the products' columns (tiles) the GEMM's micro-kernels compute that are real:
// below 1 where the own packed GEMM pads the last tile of each chunk (F(4x4) on a 28x28 map:
// 49 tiles in two 32-wide tiles, 0.77); 1 where OpenBLAS runs the products.
double winograd_products_fill(const ConvShape& shape);

// The transformed filter u packed for the own GEMM, one matrix per position, where `shape` runs
// its products that way (F(2x2) on AVX-512 CPUs); empty where it does not, and u is used as is.
std::vector<PackedWeights> winograd_pack_weights(const ConvShape& shape, const float* u);

// x:[N,C,H,W] u: winograd_transform_weights(winograd_tile(shape), ...) of w:[K,C,3,3] (may be
// null where `packed` = winograd_pack_weights(shape, u) is not empty) b:[K] (may be null) ->
// y:[N,K,H+2pad-2,W+2pad-2], y = act(conv(x, w) + b). Needs winograd_applies(shape).
void winograd_conv2d_f32_cpu(ThreadPool& pool, const ConvShape& shape, const float* x,
                             const float* u, const std::vector<PackedWeights>& packed,
                             const float* b, Activation act, float* y, float* workspace);

}  // namespace nse
