// Row kernels the convolution paths share, vectorised (AVX-512 / AVX2 / SSE clone chosen at run
// time): the epilogue every convolution ends with, y = act(y + bias) over one row of outputs,
// and the gather of every second value that strided layers copy their input rows with.
#pragma once

#include <cstdint>

#include "kernels/shapes.h"

namespace nse {

// y[i] = act(y[i] + bias) for i in [0, n).
void bias_activation_row(int64_t n, float bias, Activation act, float* y);

// out[i] = in[2 i] for i in [0, n): in vector registers (permutes) where the CPU has AVX2 or
// AVX-512 rather than one float at a time (im2col of ResNet-18's 7x7 stem, stride-2 depthwise).
void copy_stride2(int64_t n, const float* in, float* out);

// out[i] = in[i * stride] for i in [0, n): AVX-512 gathers where the CPU has them, a value at a
// time otherwise (im2col of AlexNet's 11x11 stride-4 stem).
void copy_strided(int64_t n, const float* in, int64_t stride, float* out);

}  // namespace nse
