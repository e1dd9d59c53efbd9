// Element-wise activations (relu, relu6) and softmax (attr dim, default -1).
#pragma once

#include "layers/layer.h"

namespace nse {

class ActivationLayer : public Layer {
  public:
    explicit ActivationLayer(Activation act) : act_(act) {}
    void load(const nlohmann::json& attrs, std::vector<Tensor> params) override;
    Shape output_shape(const std::vector<Shape>& in) const override { return in[0]; }
    double flops(const std::vector<Shape>& in) const override { return double(numel(in[0])); }
    void forward(const std::vector<const Tensor*>& in, Tensor& out,
                 float* workspace) const override;

    Activation activation() const { return act_; }

  private:
    Activation act_;
};

class Softmax : public Layer {
  public:
    void load(const nlohmann::json& attrs, std::vector<Tensor> params) override;
    Shape output_shape(const std::vector<Shape>& in) const override;
    double flops(const std::vector<Shape>& in) const override { return 4.0 * numel(in[0]); }
    void forward(const std::vector<const Tensor*>& in, Tensor& out,
                 float* workspace) const override;

    int64_t dim() const { return dim_; }

  private:
    int64_t dim_ = -1;
};

}  // namespace nse
