// Naive reference kernels: the obvious loops, written for clarity and used only by tests to
// check the fast kernels. Same signatures and semantics as the kernels in kernels/cpu/.
#pragma once

#include <cstdint>

#include "kernels/shapes.h"

namespace nse::ref {

void conv2d(const ConvShape& shape, const float* x, const float* w, const float* b, Activation act,
            float* y);
void max_pool2d(const PoolShape& shape, const float* x, float* y);
void avg_pool2d(const PoolShape& shape, const float* x, float* y);
void adaptive_avg_pool2d(int64_t n, int64_t c, int64_t h, int64_t w, int64_t p, int64_t q,
                         const float* x, float* y);
void linear(int64_t m, int64_t in, int64_t out, const float* x, const float* w, const float* b,
            Activation act, float* y);
void softmax(int64_t outer, int64_t dim, int64_t inner, const float* x, float* y);
// y = 1 / (1 + exp(-x)), in double.
void sigmoid(int64_t n, const float* x, float* y);

}  // namespace nse::ref
