// Pooling layers. max_pool2d: kernel_size, stride (default kernel_size), padding, dilation,
// ceil_mode. avg_pool2d: kernel_size, stride, padding, ceil_mode, count_include_pad.
// adaptive_avg_pool2d: output_size (int or [h, w]). Their CUDA ops are in pooling_cuda.cpp.
#pragma once

#include "layers/layer.h"
#include "layers/op.h"
#include "layers/sweep.h"

namespace nse {

class Pool2d : public Layer {
  public:
    explicit Pool2d(bool is_max) : max_(is_max) {}
    void load(const nlohmann::json& attrs, std::vector<Tensor> params) override;
    Shape output_shape(const std::vector<Shape>& in) const override;
    double flops(const std::vector<Shape>& in) const override;
    void forward(const std::vector<const Tensor*>& in, Tensor& out, float* workspace,
                 ThreadPool& pool) const override;
    NodeCost cost(const std::vector<Shape>& in) const override;

    static const CostKind kMaxKind, kAvgKind;
    // The CUDA op (pooling_cuda.cpp; built with NSE_WITH_CUDA only).
    static std::unique_ptr<cuda::GpuOp> gpu_op(const Layer& layer,
                                               const std::vector<const float*>& params);
    static void sweep_max(SweepContext& ctx);
    static void sweep_avg(SweepContext& ctx);

    PoolShape pool_shape(const Shape& x) const;
    bool is_max() const { return max_; }

  private:
    bool max_;
    std::array<int64_t, 2> kernel_{1, 1}, stride_{1, 1}, padding_{0, 0}, dilation_{1, 1};
    bool ceil_mode_ = false, count_include_pad_ = true;
};

class AdaptiveAvgPool2d : public Layer {
  public:
    void load(const nlohmann::json& attrs, std::vector<Tensor> params) override;
    Shape output_shape(const std::vector<Shape>& in) const override;
    double flops(const std::vector<Shape>& in) const override;
    void forward(const std::vector<const Tensor*>& in, Tensor& out, float* workspace,
                 ThreadPool& pool) const override;
    NodeCost cost(const std::vector<Shape>& in) const override;

    static const CostKind kKind;
    // The CUDA op (pooling_cuda.cpp; built with NSE_WITH_CUDA only).
    static std::unique_ptr<cuda::GpuOp> gpu_op(const Layer& layer,
                                               const std::vector<const float*>& params);
    static void sweep(SweepContext& ctx);

    std::array<int64_t, 2> output_size() const { return size_; }

  private:
    std::array<int64_t, 2> size_{1, 1};
};

}  // namespace nse
