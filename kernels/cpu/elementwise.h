// CPU element-wise and data-movement kernels: activations, add, concat, softmax.
#pragma once

#include <cstdint>

#include "kernels/shapes.h"

namespace nse {

class ThreadPool;

// Element-wise kernels split their values over the pool from this many on (fewer run on the
// calling thread: a parallel section costs more than it saves).
constexpr int64_t kElementwiseParallelValues = 1 << 14;

// y[i] = act(x[i]); x and y may be the same buffer.
void activation_f32_cpu(ThreadPool& pool, int64_t n, Activation act, const float* x, float* y);
// y[i] = act(a[i] + b[i]).
void add_f32_cpu(ThreadPool& pool, int64_t n, const float* a, const float* b, Activation act,
                 float* y);
// Concatenates along one axis: input i is [outer, inner[i]] (inner = its size along the axis
// times everything after it); y is [outer, sum(inner)].
void concat_f32_cpu(int64_t outer, int count, const int64_t* inner, const float* const* x,
                    float* y);
// Softmax over the middle axis of x:[outer, dim, inner].
void softmax_f32_cpu(int64_t outer, int64_t dim, int64_t inner, const float* x, float* y);

}  // namespace nse
