// Checked CUDA runtime calls: every call and every kernel launch goes through NSE_CUDA_CHECK /
// NSE_CUDA_LAUNCH_CHECK, which throw nse::Error(ErrorCode::Device) naming the call, the error and
// where it happened.
#pragma once

#include <cuda_runtime_api.h>

#include "base/error.h"

namespace nse::cuda {

[[noreturn]] inline void fail(const char* what, const char* why, const char* file, int line) {
    throw Error(ErrorCode::Device,
                detail::concat("CUDA error: ", what, " failed: ", why, " (", file, ":", line, ")"));
}

}  // namespace nse::cuda

#define NSE_CUDA_CHECK(expr)                                                            \
    do {                                                                                \
        const cudaError_t nse_err_ = (expr);                                            \
        if (nse_err_ != cudaSuccess)                                                    \
            ::nse::cuda::fail(#expr, cudaGetErrorString(nse_err_), __FILE__, __LINE__); \
    } while (0)

// After a kernel launch: reports a bad launch configuration at once (asynchronous faults surface
// at the next synchronising call, which is checked too).
#define NSE_CUDA_LAUNCH_CHECK(kernel_name)                                                      \
    do {                                                                                        \
        const cudaError_t nse_err_ = cudaGetLastError();                                        \
        if (nse_err_ != cudaSuccess)                                                            \
            ::nse::cuda::fail("launch of " kernel_name, cudaGetErrorString(nse_err_), __FILE__, \
                              __LINE__);                                                        \
    } while (0)
