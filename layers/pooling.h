// Pooling layers. max_pool2d: kernel_size, stride (default kernel_size), padding, dilation,
// ceil_mode. avg_pool2d: kernel_size, stride, padding, ceil_mode, count_include_pad.
// adaptive_avg_pool2d: output_size (int or [h, w]).
#pragma once

#include "layers/layer.h"

namespace nse {

class Pool2d : public Layer {
  public:
    explicit Pool2d(bool is_max) : max_(is_max) {}
    void load(const nlohmann::json& attrs, std::vector<Tensor> params) override;
    Shape output_shape(const std::vector<Shape>& in) const override;
    double flops(const std::vector<Shape>& in) const override;
    void forward(const std::vector<const Tensor*>& in, Tensor& out,
                 float* workspace) const override;

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
    void forward(const std::vector<const Tensor*>& in, Tensor& out,
                 float* workspace) const override;

    std::array<int64_t, 2> output_size() const { return size_; }

  private:
    std::array<int64_t, 2> size_{1, 1};
};

}  // namespace nse
