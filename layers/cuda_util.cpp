#include "layers/cuda_util.h"

#include <algorithm>
#include <cstdio>

namespace nse::cuda {

double time_ms(Context& ctx, const std::function<void()>& fn, int reps) {
    cudaEvent_t a, b;
    NSE_CUDA_CHECK(cudaEventCreate(&a));
    NSE_CUDA_CHECK(cudaEventCreate(&b));
    fn();
    std::vector<float> ms;
    for (int i = 0; i < reps; ++i) {
        NSE_CUDA_CHECK(cudaEventRecord(a, ctx.stream));
        fn();
        NSE_CUDA_CHECK(cudaEventRecord(b, ctx.stream));
        NSE_CUDA_CHECK(cudaEventSynchronize(b));
        float t = 0;
        NSE_CUDA_CHECK(cudaEventElapsedTime(&t, a, b));
        ms.push_back(t);
    }
    cudaEventDestroy(a);
    cudaEventDestroy(b);
    std::nth_element(ms.begin(), ms.begin() + reps / 2, ms.end());
    return ms[reps / 2];
}

std::string fixed_ms(double ms) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.4f", ms);
    return buf;
}

const char* act_name(Activation a) {
    return a == Activation::Relu ? "relu" : a == Activation::Relu6 ? "relu6" : "none";
}

}  // namespace nse::cuda
