// The shared SIMD kernels (simd_kernels.h) compiled for aarch64 (Advanced SIMD is part of the
// baseline there: no target switch).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <type_traits>

#include "base/tensor.h"
#include "kernels/cpu/simd/attention_kernels.h"
#include "kernels/cpu/simd/simd_kernels.h"

#if defined(__aarch64__)
#include "kernels/cpu/simd/vec_neon.h"

namespace nse::neon {
// clang-format off: exp_body.h first, the bodies below use it
#include "kernels/cpu/simd/exp_body.h"
// clang-format on
#include "kernels/cpu/simd/attention_body.h"
#include "kernels/cpu/simd/depthwise_body.h"
#include "kernels/cpu/simd/direct_conv_body.h"
#include "kernels/cpu/simd/gemm_body.h"
#include "kernels/cpu/simd/pool_body.h"
#include "kernels/cpu/simd/transpose_body.h"
#include "kernels/cpu/simd/unary_body.h"
#include "kernels/cpu/simd/winograd_rows_body.h"
// (after unary_body.h: its transposed stores may apply GELU)
#include "kernels/cpu/simd/gemm_columns_body.h"
}  // namespace nse::neon
#endif
