// Per-channel normalisations: batch_norm (the inference form of a BatchNorm the converter could
// not fold into a convolution, e.g. DenseNet's BN before ReLU before conv: y = act(x * scale[c] +
// shift[c]), params scale and shift precomputed from the running statistics) and layer_norm
// (attrs dim, default -1, and eps, default 1e-5; params weight and bias of the axis' size, or
// none). No CUDA ops yet: their records declare the CPU fallback.
#pragma once

#include "layers/layer.h"
#include "layers/op.h"
#include "layers/sweep.h"

namespace nse {

class BatchNorm : public Layer {
  public:
    void load(const nlohmann::json& attrs, std::vector<Tensor> params) override;
    Shape output_shape(const std::vector<Shape>& in) const override;
    double flops(const std::vector<Shape>& in) const override { return 2.0 * numel(in[0]); }
    void forward(const std::vector<const Tensor*>& in, Tensor& out, float* workspace,
                 ThreadPool& pool) const override;
    NodeCost cost(const std::vector<Shape>& in) const override;

    static const CostKind kKind;
    static void sweep(SweepContext& ctx);

  private:
    Activation act_ = Activation::None;
};

class LayerNorm : public Layer {
  public:
    void load(const nlohmann::json& attrs, std::vector<Tensor> params) override;
    Shape output_shape(const std::vector<Shape>& in) const override;
    double flops(const std::vector<Shape>& in) const override { return 8.0 * numel(in[0]); }
    void forward(const std::vector<const Tensor*>& in, Tensor& out, float* workspace,
                 ThreadPool& pool) const override;
    NodeCost cost(const std::vector<Shape>& in) const override;

    static const CostKind kKind;
    static void sweep(SweepContext& ctx);

  private:
    int64_t dim_ = -1;
    float eps_ = 1e-5f;
};

}  // namespace nse
