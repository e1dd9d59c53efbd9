// The shared SIMD bodies compiled for x86-64 with AVX-512F: attention, the depthwise and direct
// convolutions and pooling (simd_kernels.h's NSE_DECLARE_SIMD_CONV_KERNELS); the GEMM and FC
// kernels of this path are hand-tuned apart. As in simd_avx2.cpp, everything the bodies use is
// included before the target switch.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "kernels/cpu/simd/attention_kernels.h"
#include "kernels/cpu/simd/simd_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#pragma GCC target("avx512f,fma")
// GCC 12 reports the _mm512_undefined_ps() inside _mm512_max_ps and friends as maybe-uninitialised
// once they are inlined through a template (a false positive: every lane is written).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "kernels/cpu/simd/vec_avx512.h"

namespace nse::avx512 {
// clang-format off: exp_body.h first, the bodies below use it
#include "kernels/cpu/simd/exp_body.h"
// clang-format on
#include "kernels/cpu/simd/attention_body.h"
#include "kernels/cpu/simd/depthwise_body.h"
#include "kernels/cpu/simd/direct_conv_body.h"
#include "kernels/cpu/simd/pool_body.h"
}  // namespace nse::avx512
#endif
