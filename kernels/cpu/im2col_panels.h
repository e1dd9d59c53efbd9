// im2col straight into the packed GEMM's column panels (packed_gemm.h), for convolutions whose
// weights are in the column layout (7x7 and 14x14 maps with long reductions): one masked
// gather of up to 12 output pixels' inputs per (channel, tap), instead of an im2col matrix
// and a second pass that packs it (that pair cost a fifth of ResNet-18's 7x7 layers' time).
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/shapes.h"

namespace nse {

class ThreadPool;

// Whether im2col_column_panels can run here (AVX-512F).
bool im2col_column_panels_available();

// bt = the column panels of the im2col matrix of one image and group of `shape` (rows
// (c * R + r) * S + s over the group's C / groups channels, columns the P * Q output pixels),
// laid out as packed_gemm_prepacked reads them; bt holds
// packed_gemm_workspace_floats(Columns, P * Q, C / groups * R * S) floats.
void im2col_column_panels(ThreadPool& pool, const ConvShape& shape, const float* x, float* bt);

}  // namespace nse
