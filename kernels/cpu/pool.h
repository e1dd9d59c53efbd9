// CPU pooling kernels (PyTorch semantics, including ceil_mode and count_include_pad).
#pragma once

#include "kernels/shapes.h"

namespace nse {

class ThreadPool;

// Inputs larger than this are pooled reading one input row at a time (simd/pool_body.h): they
// come from memory, where rows read side by side waited on it.
constexpr int64_t kPoolStreamedInputBytes = int64_t(4) << 20;

// x:[N,C,H,W] -> y:[N,C,P,Q]; padding counts as -inf.
void max_pool2d_f32_cpu(ThreadPool& pool, const PoolShape& shape, const float* x, float* y);
// x:[N,C,H,W] -> y:[N,C,P,Q]; divisor follows count_include_pad as PyTorch does.
void avg_pool2d_f32_cpu(ThreadPool& pool, const PoolShape& shape, const float* x, float* y);
// x:[N,C,H,W] -> y:[N,C,P,Q]; window i spans [floor(i*H/P), ceil((i+1)*H/P)).
void adaptive_avg_pool2d_f32_cpu(ThreadPool& pool, int64_t n, int64_t c, int64_t h, int64_t w,
                                 int64_t p, int64_t q, const float* x, float* y);

}  // namespace nse
