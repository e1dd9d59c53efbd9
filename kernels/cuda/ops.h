// Hand-written CUDA kernels for what cuDNN and cuBLAS lack or do no faster: bias + activation,
// activations, residual add, softmax, pooling (any PyTorch mode), adaptive average pooling and
// depthwise convolution. Free functions on device pointers, all NCHW fp32, enqueued on `stream`;
// each checks its launch. Semantics match kernels/reference exactly (same formulas; float sums).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/shapes.h"

namespace nse::cuda {

// y[i] = act(y[i] + bias[(i / inner) % channels]); bias may be null (activation only).
void bias_activation(float* y, const float* bias, int64_t count, int64_t channels, int64_t inner,
                     Activation act, cudaStream_t stream);
// y = act(x), count elements (x may equal y).
void activation(const float* x, float* y, int64_t count, Activation act, cudaStream_t stream);
// y = act(a + b).
void add(const float* a, const float* b, float* y, int64_t count, Activation act,
         cudaStream_t stream);
// Softmax over the middle axis of [outer, dim, inner].
void softmax(const float* x, float* y, int64_t outer, int64_t dim, int64_t inner,
             cudaStream_t stream);
// Max or average pooling with PyTorch's rules (padding, dilation, ceil_mode, count_include_pad).
void pool2d(const PoolShape& shape, bool is_max, const float* x, float* y, cudaStream_t stream);
// PyTorch's adaptive average pooling to [p, q].
void adaptive_avg_pool2d(int64_t n, int64_t c, int64_t h, int64_t w, int64_t p, int64_t q,
                         const float* x, float* y, cudaStream_t stream);
// Depthwise convolution (groups == c == k) with bias (may be null) and activation fused.
void depthwise_conv2d(const ConvShape& shape, const float* x, const float* w, const float* bias,
                      Activation act, float* y, cudaStream_t stream);

}  // namespace nse::cuda
