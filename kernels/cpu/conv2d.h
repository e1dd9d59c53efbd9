// CPU convolution: im2col + OpenBLAS sgemm in column tiles (general case), a plain sgemm for
// 1x1 stride-1 convolutions, a hand-written vectorised kernel for depthwise convolutions and a
// direct one for 3x3/5x5 layers with few channels (direct_conv.h).
// 3x3 stride-1 layers with weights transformed at load take kernels/cpu/winograd.h instead (the
// Conv2d layer chooses).
#pragma once

#include <cstddef>
#include <vector>

#include "kernels/shapes.h"

namespace nse {

class PackedWeights;
class ThreadPool;

// Scratch floats conv2d_f32_cpu needs for `shape` when run on `threads` threads.
size_t conv2d_workspace_floats(const ConvShape& shape, int threads);

// x:[N,C,H,W] w:[K,C/g,R,S] b:[K] (may be null) -> y:[N,K,P,Q], y = act(conv(x, w) + b).
// `workspace` holds conv2d_workspace_floats(shape, pool.size()) floats. `packed` (one per
// group, from pack_conv_weights) makes the GEMM paths run the own packed GEMM instead of OpenBLAS.
// `direct` (from direct_conv_prepare_weights) spares the direct path laying out the weights.
void conv2d_f32_cpu(ThreadPool& pool, const ConvShape& shape, const float* x, const float* w,
                    const float* b, Activation act, float* y, float* workspace,
                    const PackedWeights* packed = nullptr, const float* direct = nullptr);

// Whether conv2d_f32_cpu takes a GEMM path (im2col or 1x1) for this shape, and the own packed
// GEMM can run on this CPU: then the layer packs its weights once with pack_conv_weights.
bool conv2d_uses_packed_gemm(const ConvShape& shape);
// A 1x1 convolution of a 1x1 map without groups (squeeze-and-excitation's two layers): one
// matrix-vector product per image, which conv2d_f32_cpu runs as a fully connected layer does
// (linear.h: the weights streamed once, rows shared out over the threads). As a GEMM of one
// column it ran at a third of the speed the weights' read allows and on one thread
// (MobileNetV3-Large's 240 -> 960 layers: 0.143 ms at 1 and 2 threads).
bool conv2d_matrix_vector(const ConvShape& shape);
// w:[K,C/g,R,S] -> one PackedWeights per group (K/g rows of C/g*R*S), in the layout
// packed_layout_for picks for the shape's output map.
std::vector<PackedWeights> pack_conv_weights(const ConvShape& shape, const float* w);

// The depthwise path of conv2d_f32_cpu (groups == C == K), exposed for tests and benchmarks.
size_t depthwise_workspace_floats(const ConvShape& shape, int threads);
void depthwise_conv2d_f32_cpu(ThreadPool& pool, const ConvShape& shape, const float* x,
                              const float* w, const float* b, Activation act, float* y,
                              float* workspace);

}  // namespace nse
