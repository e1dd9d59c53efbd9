// 3x3 depthwise convolution straight from the input planes with AVX-512 (no padded copy): the
// padding is the masked-off lanes of each load. Stride 1 computes two output rows at a time
// from four input rows (12 loads for 32 outputs); stride 2 splits each input row's 32 values
// into its even and odd columns in registers. Blocks of 6-8 output vectors keep as many chains
// of multiply-adds going. Bias and activation are applied before each store. The taps are summed
// in the order of the plane kernels of plane.h (row by row, left to right).
//
// Measured at 1 thread, hot caches, against the plane kernels (a padded copy per plane, the taps,
// then the epilogue per row): 96 x 112x112 stride 2 0.47 -> 0.24 ms, 144 x 56x56 stride 2
// 0.19 -> 0.08, 192 x 28x28 0.09 -> 0.05, 960 x 7x7 0.063 -> 0.037; the 56x56 and 112x112
// stride-1 planes 10-30 % (bound by the L3 traffic of their 1.6-1.8 MB in and out).
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/shapes.h"

namespace nse {

// Whether depthwise3x3_f32_cpu runs `shape`: a SIMD path (AVX-512 here; AVX2 and NEON in
// simd/depthwise_body.h, from a padded copy of each plane), a 3x3 unit-dilation depthwise filter
// with equal strides of 1 or 2 and padding of at most 1 (MobileNetV2's depthwise layers).
bool depthwise3x3_applies(const ConvShape& shape);

// Floats of scratch one call of depthwise3x3_f32_cpu needs on the path in use (AVX2 and NEON copy
// each plane into a padded one there; AVX-512 needs none).
size_t depthwise3x3_scratch_floats(const ConvShape& shape);

// Input channel planes [first, last) of x:[N, C, H, W] (plane = n * C + c) -> the same planes of
// y:[N, C, P, Q]; w:[C, 1, 3, 3], b:[C] (may be null). `scratch`: depthwise3x3_scratch_floats
// floats of the calling thread's own.
void depthwise3x3_f32_cpu(const ConvShape& shape, const float* x, const float* w, const float* b,
                          Activation act, float* y, int64_t first, int64_t last, float* scratch);

}  // namespace nse
