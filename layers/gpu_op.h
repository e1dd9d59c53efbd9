// What every CUDA op needs (the stream, the cuDNN and cuBLAS handles bound to it, the TF32
// setting, the checks for cuDNN and cuBLAS calls; CUDA's own are in kernels/cuda/check.h) and the
// interface an op's CUDA implementation (layers/<op>_cuda.cpp) implements. One GpuOp per graph
// node, built from the layer (its attributes and device copies of its weights) for fixed input
// shapes. prepare() chooses how to run (cuDNN algorithm found by measurement, fused or separate
// bias + activation, own kernel or cuDNN) using scratch device buffers of the right sizes;
// launch() only enqueues work on the context's stream, so a plan's launches can be captured into
// a CUDA graph. Only CUDA builds include this header.
#pragma once

#include <cublas_v2.h>
#include <cudnn.h>

#include <memory>
#include <string>
#include <vector>

#include "base/tensor.h"
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

class GpuOp {
  public:
    virtual ~GpuOp() = default;
    // in/out: device buffers of the op's input and output shapes (contents arbitrary).
    virtual void prepare(Context& ctx, const std::vector<Shape>& in_shapes, const Shape& out_shape,
                         const std::vector<const float*>& in, float* out) {}
    // Device scratch launch() needs (bytes); valid after prepare().
    virtual size_t workspace_bytes() const { return 0; }
    virtual void launch(Context& ctx, const std::vector<const float*>& in, float* out,
                        void* workspace) = 0;
    // After the stream has synchronised: what went wrong in work this op ran on the host (a CPU
    // fallback's forward, which may not throw through CUDA's host callback), or empty.
    virtual std::string host_failure() { return {}; }
    // How prepare() chose to run this op, for `nsengine profile -d cuda` (e.g. "cuDNN
    // implicit-precomp-gemm, fused bias+relu").
    const std::string& how() const { return how_; }

  protected:
    std::string how_;
};

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
