// The shared SIMD bodies compiled with a one-float "vector" (vec_scalar.h): the generic path's
// attention kernel, the same algorithm as the vector paths'.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "kernels/cpu/simd/attention_kernels.h"
#include "kernels/cpu/simd/vec_scalar.h"

namespace nse::generic {
// clang-format off: exp_body.h first, the bodies below use it
#include "kernels/cpu/simd/exp_body.h"
// clang-format on
#include "kernels/cpu/simd/attention_body.h"
}  // namespace nse::generic
