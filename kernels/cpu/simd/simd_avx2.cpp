// The shared SIMD kernels (simd_kernels.h) compiled for x86-64 with AVX2 + FMA. Everything the
// bodies use is included first, compiled for the baseline; only what follows the pragma is
// compiled for AVX2, so no inline library function built for AVX2 can stand in for the baseline
// one elsewhere in the program (one definition kept by the linker).
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

#if defined(__x86_64__)
#include <immintrin.h>

#pragma GCC target("avx2,fma")

#include "kernels/cpu/simd/vec_avx2.h"

namespace nse::avx2 {
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
}  // namespace nse::avx2
#endif
