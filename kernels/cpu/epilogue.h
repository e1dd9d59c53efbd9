// The epilogue every convolution ends with: y = act(y + bias) over one row of outputs,
// vectorised (AVX-512 / AVX2 / SSE clone chosen at run time).
#pragma once

#include <cstdint>

#include "kernels/shapes.h"

namespace nse {

// y[i] = act(y[i] + bias) for i in [0, n).
void bias_activation_row(int64_t n, float bias, Activation act, float* y);

}  // namespace nse
