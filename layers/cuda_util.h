// Helpers shared by the ops' CUDA implementations (layers/*_cuda.cpp): RAII cuDNN descriptors
// and scratch buffers, timing of enqueued work, and an op made of one function. CUDA builds only.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "kernels/shapes.h"
#include "layers/gpu_op.h"

namespace nse::cuda {

// RAII wrappers for the cuDNN descriptors an op keeps.
struct TensorDesc {
    cudnnTensorDescriptor_t d = nullptr;
    TensorDesc() { NSE_CUDNN_CHECK(cudnnCreateTensorDescriptor(&d)); }
    ~TensorDesc() { cudnnDestroyTensorDescriptor(d); }
    void set(int64_t n, int64_t c, int64_t h, int64_t w) {
        NSE_CUDNN_CHECK(cudnnSetTensor4dDescriptor(d, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, int(n),
                                                   int(c), int(h), int(w)));
    }
};
struct FilterDesc {
    cudnnFilterDescriptor_t d = nullptr;
    FilterDesc() { NSE_CUDNN_CHECK(cudnnCreateFilterDescriptor(&d)); }
    ~FilterDesc() { cudnnDestroyFilterDescriptor(d); }
};
struct ConvDesc {
    cudnnConvolutionDescriptor_t d = nullptr;
    ConvDesc() { NSE_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&d)); }
    ~ConvDesc() { cudnnDestroyConvolutionDescriptor(d); }
};
struct ActDesc {
    cudnnActivationDescriptor_t d = nullptr;
    ActDesc() { NSE_CUDNN_CHECK(cudnnCreateActivationDescriptor(&d)); }
    ~ActDesc() { cudnnDestroyActivationDescriptor(d); }
};
struct PoolDesc {
    cudnnPoolingDescriptor_t d = nullptr;
    PoolDesc() { NSE_CUDNN_CHECK(cudnnCreatePoolingDescriptor(&d)); }
    ~PoolDesc() { cudnnDestroyPoolingDescriptor(d); }
};

// A device buffer for prepare()-time trials.
struct Scratch {
    void* p = nullptr;
    explicit Scratch(size_t bytes) {
        if (bytes) NSE_CUDA_CHECK(cudaMalloc(&p, bytes));
    }
    ~Scratch() { cudaFree(p); }
};

// Median milliseconds of `fn` enqueued on the stream (after one untimed call).
double time_ms(Context& ctx, const std::function<void()>& fn, int reps = 7);
// "%.4f" of a time in ms, for how().
std::string fixed_ms(double ms);

const char* act_name(Activation a);

inline constexpr float kOne = 1.f, kZero = 0.f;
// The small ops: one hand-written kernel (or a copy) each.
class LambdaOp : public GpuOp {
  public:
    using Ins = std::vector<const float*>;
    using Fn = std::function<void(Context&, const Ins&, float*)>;
    using Prep = std::function<Fn(const std::vector<Shape>&, const Shape&)>;
    LambdaOp(std::string how, Prep prep) : prep_(std::move(prep)) { how_ = std::move(how); }
    void prepare(Context&, const std::vector<Shape>& in_shapes, const Shape& out_shape,
                 const std::vector<const float*>&, float*) override {
        fn_ = prep_(in_shapes, out_shape);
    }
    void launch(Context& ctx, const std::vector<const float*>& in, float* out, void*) override {
        fn_(ctx, in, out);
    }

  private:
    Prep prep_;
    Fn fn_;
};

}  // namespace nse::cuda
