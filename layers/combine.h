// Ops that join or reshape tensors: add (two inputs of one shape, optional activation),
// concat (attr dim), flatten (attrs start_dim = 1, end_dim = -1).
#pragma once

#include "layers/layer.h"

namespace nse {

class Add : public Layer {
  public:
    void load(const nlohmann::json& attrs, std::vector<Tensor> params) override;
    int arity() const override { return 2; }
    Shape output_shape(const std::vector<Shape>& in) const override;
    double flops(const std::vector<Shape>& in) const override { return double(numel(in[0])); }
    void forward(const std::vector<const Tensor*>& in, Tensor& out,
                 float* workspace) const override;

    Activation activation() const { return act_; }

  private:
    Activation act_ = Activation::None;
};

class Concat : public Layer {
  public:
    void load(const nlohmann::json& attrs, std::vector<Tensor> params) override;
    int arity() const override { return -1; }
    Shape output_shape(const std::vector<Shape>& in) const override;
    void forward(const std::vector<const Tensor*>& in, Tensor& out,
                 float* workspace) const override;

    int64_t dim() const { return dim_; }

  private:
    int64_t dim_ = 1;
};

class Flatten : public Layer {
  public:
    void load(const nlohmann::json& attrs, std::vector<Tensor> params) override;
    Shape output_shape(const std::vector<Shape>& in) const override;
    void forward(const std::vector<const Tensor*>& in, Tensor& out,
                 float* workspace) const override;

  private:
    int64_t start_ = 1, end_ = -1;
};

}  // namespace nse
