// linear: y = x w^T + b on x [N, I]; attrs activation; params weight [O, I], optional bias [O].
// Its CUDA op is in linear_cuda.cpp.
#pragma once

#include "layers/layer.h"
#include "layers/op.h"
#include "layers/sweep.h"

namespace nse {

class Linear : public Layer {
  public:
    void load(const nlohmann::json& attrs, std::vector<Tensor> params) override;
    Shape output_shape(const std::vector<Shape>& in) const override;
    double flops(const std::vector<Shape>& in) const override;
    void forward(const std::vector<const Tensor*>& in, Tensor& out, float* workspace,
                 ThreadPool& pool) const override;
    NodeCost cost(const std::vector<Shape>& in) const override;

    static const CostKind kKind;
    // The CUDA op (linear_cuda.cpp; built with NSE_WITH_CUDA only).
    static std::unique_ptr<cuda::GpuOp> gpu_op(const Layer& layer,
                                               const std::vector<const float*>& params);
    static void sweep(SweepContext& ctx);

    Activation activation() const { return act_; }

  private:
    Activation act_ = Activation::None;
};

}  // namespace nse
