// Depthwise convolution by the paths' own vector kernels: square 3x3, 5x5 and 7x7 filters from a
// padded copy of each plane (simd/depthwise_body.h, 8 lanes on AVX2, 4 on NEON, 16 on AVX-512),
// except 3x3 on AVX-512, the kernel below (on a Zen 4 core it took 0.6-1.0 of the 16-lane body's
// time on MobileNetV2's 3x3 layers; the body took 0.25-0.45 of the plane kernels' on 5x5 and
// 7x7, docs/cpu-paths.md).
//
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

// Whether depthwise_direct_f32_cpu runs `shape`: a depthwise layer with unit dilation, equal
// strides of 1 or 2 and a square 3x3, 5x5 or 7x7 filter with padding of at most half the filter
// (MobileNetV2's, EfficientNet's, MNASNet's, ConvNeXt's layers). Other shapes, and the generic
// path, run the plane kernels.
bool depthwise_direct_applies(const ConvShape& shape);

// Floats of scratch one call of depthwise_direct_f32_cpu needs on the path in use (the shared
// body copies planes into padded or interleaved ones; AVX-512's 3x3 kernel needs none).
size_t depthwise_direct_scratch_floats(const ConvShape& shape);

// The vector multiply-adds per tap that one output row of one channel costs on the path in use
// (lanes shared by several channels count as a share): the cost model's feature. Shapes
// depthwise_direct_applies refuses: a 16-lane vector per 16 outputs of a row.
double depthwise_direct_row_vectors(const ConvShape& shape);

// Input channel planes [first, last) of x:[N, C, H, W] (plane = n * C + c) -> the same planes of
// y:[N, C, P, Q]; w:[C, 1, K, K], b:[C] (may be null). `scratch`: depthwise_direct_scratch_floats
// floats of the calling thread's own.
void depthwise_direct_f32_cpu(const ConvShape& shape, const float* x, const float* w,
                              const float* b, Activation act, float* y, int64_t first, int64_t last,
                              float* scratch);

}  // namespace nse
