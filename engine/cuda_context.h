// What every CUDA op needs: the stream, the cuDNN and cuBLAS handles bound to it, the TF32
// setting, and the checks for cuDNN and cuBLAS calls (CUDA's own are in kernels/cuda/check.h).
// Only the CUDA backend includes this header.
#pragma once

#include <cublas_v2.h>
#include <cudnn.h>

#include "kernels/cuda/check.h"

namespace nse::cuda {

struct Context {
    cudaStream_t stream = nullptr;
    cudnnHandle_t cudnn = nullptr;
    cublasHandle_t cublas = nullptr;
    bool tf32 = false;
};

[[noreturn]] inline void fail_status(const char* lib, const char* what, const char* why,
                                     const char* file, int line) {
    throw Error(ErrorCode::Device, detail::concat(lib, " error: ", what, " failed: ", why, " (",
                                                  file, ":", line, ")"));
}

}  // namespace nse::cuda

#define NSE_CUDNN_CHECK(expr)                                                                \
    do {                                                                                     \
        const cudnnStatus_t nse_st_ = (expr);                                                \
        if (nse_st_ != CUDNN_STATUS_SUCCESS)                                                 \
            ::nse::cuda::fail_status("cuDNN", #expr, cudnnGetErrorString(nse_st_), __FILE__, \
                                     __LINE__);                                              \
    } while (0)

#define NSE_CUBLAS_CHECK(expr)                                                                  \
    do {                                                                                        \
        const cublasStatus_t nse_st_ = (expr);                                                  \
        if (nse_st_ != CUBLAS_STATUS_SUCCESS)                                                   \
            ::nse::cuda::fail_status("cuBLAS", #expr, cublasGetStatusString(nse_st_), __FILE__, \
                                     __LINE__);                                                 \
    } while (0)
