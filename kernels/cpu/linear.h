// CPU fully connected layer: a weight-streaming GEMV (kernels/cpu/gemm.h), whose rows of a batch
// equal the rows run alone bit for bit.
#pragma once

#include <cstdint>

#include "kernels/shapes.h"

namespace nse {

class ThreadPool;

// x:[M, I] w:[O, I] b:[O] (may be null) -> y:[M, O], y = act(x w^T + b).
void linear_f32_cpu(ThreadPool& pool, int64_t m, int64_t in, int64_t out, const float* x,
                    const float* w, const float* b, Activation act, float* y);

}  // namespace nse
