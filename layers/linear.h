// linear: y = x w^T + b on x [N, I]; attrs activation; params weight [O, I], optional bias [O].
#pragma once

#include "layers/layer.h"

namespace nse {

class Linear : public Layer {
  public:
    void load(const nlohmann::json& attrs, std::vector<Tensor> params) override;
    Shape output_shape(const std::vector<Shape>& in) const override;
    double flops(const std::vector<Shape>& in) const override;
    void forward(const std::vector<const Tensor*>& in, Tensor& out,
                 float* workspace) const override;

    Activation activation() const { return act_; }

  private:
    Activation act_ = Activation::None;
};

}  // namespace nse
