// The clamp activations (relu, relu6) and softmax (attr dim, default -1); their CUDA ops are in
// activation_cuda.cpp. Sigmoid and the other smooth functions are in unary.h.
#pragma once

#include "layers/layer.h"
#include "layers/op.h"
#include "layers/sweep.h"

namespace nse {

class ActivationLayer : public Layer {
  public:
    explicit ActivationLayer(Activation act) : act_(act) {}
    void load(const nlohmann::json& attrs, std::vector<Tensor> params) override;
    Shape output_shape(const std::vector<Shape>& in) const override { return in[0]; }
    double flops(const std::vector<Shape>& in) const override { return double(numel(in[0])); }
    void forward(const std::vector<const Tensor*>& in, Tensor& out, float* workspace,
                 ThreadPool& pool) const override;
    NodeCost cost(const std::vector<Shape>& in) const override;

    Activation activation() const { return act_; }

    static const CostKind kKind;
    // The CUDA op (activation_cuda.cpp; built with NSE_WITH_CUDA only).
    static std::unique_ptr<cuda::GpuOp> gpu_op(const Layer& layer,
                                               const std::vector<const float*>& params);
    static void sweep_relu(SweepContext& ctx);
    static void sweep_relu6(SweepContext& ctx);

  private:
    Activation act_;
};

class Softmax : public Layer {
  public:
    void load(const nlohmann::json& attrs, std::vector<Tensor> params) override;
    Shape output_shape(const std::vector<Shape>& in) const override;
    double flops(const std::vector<Shape>& in) const override { return 4.0 * numel(in[0]); }
    void forward(const std::vector<const Tensor*>& in, Tensor& out, float* workspace,
                 ThreadPool& pool) const override;
    NodeCost cost(const std::vector<Shape>& in) const override;

    int64_t dim() const { return dim_; }

    static const CostKind kKind;
    // The CUDA op (activation_cuda.cpp; built with NSE_WITH_CUDA only).
    static std::unique_ptr<cuda::GpuOp> gpu_op(const Layer& layer,
                                               const std::vector<const float*>& params);
    static void sweep(SweepContext& ctx);

  private:
    int64_t dim_ = -1;
};

}  // namespace nse
