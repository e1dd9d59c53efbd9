// Direct convolution for layers with very few channels (LeNet's first): every input plane is
// padded once, then each output plane is the sum over input channels of the one-pass plane
// kernels of plane.h. A GEMM with 6 rows runs its micro-kernels mostly empty and im2col copies
// the input R*S times: LeNet's first layer took 20 us that way, 8 us this way. With more
// channel pairs im2col wins again (LeNet's second layer, 6 x 16: 18 us against 25; MobileNetV2's
// stem, 3 x 32: 0.60 ms against 0.64).
#pragma once

#include <cstddef>

#include "kernels/shapes.h"

namespace nse {

// Whether conv2d_f32_cpu runs `shape` this way: no groups, a 3x3 or 5x5 filter and at most 32
// (input x output) channel pairs.
bool direct_conv_applies(const ConvShape& shape);
size_t direct_conv_workspace_floats(const ConvShape& shape);

// x:[N,C,H,W] w:[K,C,R,S] b:[K] (may be null) -> y:[N,K,P,Q], y = act(conv(x, w) + b).
void direct_conv2d_f32_cpu(const ConvShape& shape, const float* x, const float* w, const float* b,
                           Activation act, float* y, float* workspace);

}  // namespace nse
