#include "kernels/cpu/epilogue.h"

#include <algorithm>

namespace nse {

__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default"))) void
bias_activation_row(int64_t n, float bias, Activation act, float* __restrict y) {
    if (act == Activation::None) {
        for (int64_t i = 0; i < n; ++i) y[i] += bias;
    } else if (act == Activation::Relu) {
        for (int64_t i = 0; i < n; ++i) y[i] = std::max(y[i] + bias, 0.f);
    } else {
        for (int64_t i = 0; i < n; ++i) y[i] = std::min(std::max(y[i] + bias, 0.f), 6.f);
    }
}

__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default"))) void copy_stride2(
    int64_t n, const float* __restrict in, float* __restrict out) {
    for (int64_t i = 0; i < n; ++i) out[i] = in[2 * i];
}

}  // namespace nse
