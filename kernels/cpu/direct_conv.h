// Direct convolution for layers with few output channels and short reductions (LeNet's, a
// network's RGB stem, grouped layers): a GEMM with 6 or 16 rows runs its micro-kernels mostly
// empty and im2col copies the input R*S times. On every vector path (simd/direct_conv_body.h: 8
// lanes on AVX2, 16 on AVX-512, 4 on NEON): an implicit GEMM, output pixels in vectors read
// straight from the input split by column phase, weights in panels of the GEMM's tile height;
// or, for groups of up to 64 channels where that fills more of the multiply-adds, output
// channels in vectors, input values broadcast. (AVX-512 had a kernel of its own, channels in
// vectors only, until kernel revision 19: on a Zen 4 core the shared body took 0.5-0.95 of its
// time, docs/cpu-paths.md.)
#pragma once

#include <cstddef>

#include "kernels/shapes.h"

namespace nse {

class ThreadPool;

// The longest reduction (C * R * S) and output row the direct path takes. Up to 400 the direct
// path beat im2col + the packed GEMM on every shape measured at 1 thread (AlexNet's 11x11
// stride-4 stem, 363: 2.0 -> 1.2 ms; 16 -> 64 channels 5x5 at 56x56: 1.8 -> 1.3 ms), about equal
// at 288-360 on 28x28 maps.
constexpr int64_t kMaxReduction = 400;
// Up to this in channel tiles: RegNet's grouped layers of 48 and 56 channels (432
// and 504 values) ran as a GEMM per group at 30-47 GFLOP/s.
constexpr int64_t kMaxChannelTileReduction = 576;
constexpr int64_t kMaxRowPixels = 512;
// Whether conv2d_f32_cpu runs `shape` this way: a path with own vector kernels (AVX-512, AVX2,
// NEON), not depthwise, not 1x1 (a plain GEMM), at most 64 output channels per group, C / groups *
// R * S <= kMaxReduction (kMaxChannelTileReduction where the group runs in channel tiles), rows of
// at most kMaxRowPixels outputs, and not a shape Winograd takes
// (winograd.h: 1.3-2.4x faster than this path on the 3x3 layers with 16-40 channels both apply to).
// Grouped layers (ResNeXt's and RegNet's groups of 4 to 44 channels, 48 to 64 in channel tiles) run
// each group so: a GEMM per group of so few rows and columns ran at 11-35 GFLOP/s.
bool direct_conv_applies(const ConvShape& shape);
size_t direct_conv_workspace_floats(const ConvShape& shape);
// Whether the shape's groups run in channel vectors on the path in use (few output
// channels per group on a small map: whole vectors of channels, pixels broadcast; see
// simd/direct_conv_body.h) rather than in the implicit GEMM's pixel tiles.
bool direct_conv_channel_tiling(const ConvShape& shape);
// The share of the multiply-adds the path's tiles issue that make outputs (the rest fill the
// lanes and rows past a group's channels and a row's or map's pixels); for the cost model.
double direct_conv_lane_fill(const ConvShape& shape);

// The weights as the kernel reads them, zero-padded: per group panels [K/G / MR][C/G R S][MR] of
// the tile height MR ([C/G R S][K/G rounded up to whole vectors] in channel tiling); laid out
// once at load by the layer (for the path in use then).
size_t direct_conv_weight_floats(const ConvShape& shape);
void direct_conv_prepare_weights(const ConvShape& shape, const float* w, float* wt);

// x:[N,C,H,W] w:[K,C,R,S] b:[K] (may be null) -> y:[N,K,P,Q], y = act(conv(x, w) + b).
// `wt`: w prepared by direct_conv_prepare_weights, or null to prepare it on each call.
void direct_conv2d_f32_cpu(ThreadPool& pool, const ConvShape& shape, const float* x, const float* w,
                           const float* b, Activation act, float* y, float* workspace,
                           const float* wt = nullptr);

}  // namespace nse
