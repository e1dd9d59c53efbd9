// 3x3 stride-1 convolutions by Winograd's minimal filtering F(4x4, 3x3) (Lavin & Gray 2016):
// each 6x6 input tile and each filter are transformed once, the 36 transform positions become 36
// independent GEMMs (output channels x input channels x tiles), and each 6x6 product tile
// transforms back to a 4x4 output tile. 36 multiplies per 16 outputs and input channel instead
// of 144: 4x less GEMM work than im2col, for the transforms and a slightly larger rounding
// error (about 1e-6 relative per layer with the points 0, +-1, +-2, 1/2 used here; tested).
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/shapes.h"

namespace nse {

// Whether the Conv2d layer runs `shape` this way: 3x3, stride 1, dilation 1, no groups, at least
// 16 input and output channels (below that the transforms cost more than they save) and at
// least 25 tiles (maps of 17x17 and up). Measured at 1 thread against im2col: 3.4x faster at
// 56x56 x 64 channels, 2-2.4x at 28x28, even at 14x14 and slower at 13x13 (16 tiles: 36 GEMMs
// of 16 columns, the transformed weights packed for each).
bool winograd_applies(const ConvShape& shape);

// Floats of the transformed weights of a [K, C, 3, 3] filter.
size_t winograd_weight_floats(int64_t k, int64_t c);
// w:[K, C, 3, 3] -> u:[36][K][C], u = G w G^T for each (k, c).
void winograd_transform_weights(int64_t k, int64_t c, const float* w, float* u);

// Scratch floats winograd_conv2d_f32_cpu needs for `shape` on `threads` threads.
size_t winograd_workspace_floats(const ConvShape& shape, int threads);
// 4x4 output tiles per image, and how many chunks of them run one after another (the
// transformed weights are read once per chunk).
int64_t winograd_tiles(const ConvShape& shape);
int64_t winograd_chunks(const ConvShape& shape);

// x:[N,C,H,W] u: winograd_transform_weights of w:[K,C,3,3] b:[K] (may be null) ->
// y:[N,K,H+2pad-2,W+2pad-2], y = act(conv(x, w) + b). Needs winograd_applies(shape).
void winograd_conv2d_f32_cpu(const ConvShape& shape, const float* x, const float* u, const float* b,
                             Activation act, float* y, float* workspace);

}  // namespace nse
