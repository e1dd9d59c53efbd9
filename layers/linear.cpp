#include "layers/linear.h"

#include "kernels/cpu/linear.h"

namespace nse {

void Linear::load(const nlohmann::json& attrs, std::vector<Tensor> params) {
    act_ = attr_activation(attrs);
    NSE_CHECK(params.size() == 1 || params.size() == 2, ErrorCode::InvalidModel,
              "linear takes a weight and an optional bias, the graph lists ", params.size(),
              " tensors");
    const Shape& w = params[0].shape();
    NSE_CHECK(w.size() == 2 && w[0] > 0 && w[1] > 0, ErrorCode::InvalidModel,
              "linear weight must be [out, in], got ", shape_str(w));
    if (params.size() == 2)
        NSE_CHECK(params[1].shape() == Shape{w[0]}, ErrorCode::InvalidModel,
                  "linear bias must be [", w[0], "], got ", shape_str(params[1].shape()));
    params_ = std::move(params);
}

Shape Linear::output_shape(const std::vector<Shape>& in) const {
    const Shape& x = in[0];
    const Shape& w = params_[0].shape();
    NSE_CHECK(x.size() == 2 && x[1] == w[1], ErrorCode::InvalidModel, "linear weight ",
              shape_str(w), " expects input [N, ", w[1], "], got ", shape_str(x));
    return {x[0], w[0]};
}

double Linear::flops(const std::vector<Shape>& in) const {
    const Shape& w = params_[0].shape();
    return 2.0 * in[0][0] * w[0] * w[1];
}

void Linear::forward(const std::vector<const Tensor*>& in, Tensor& out, float* workspace) const {
    const Shape& w = params_[0].shape();
    const float* bias = params_.size() > 1 ? params_[1].data() : nullptr;
    linear_f32_cpu(in[0]->dim(0), w[1], w[0], in[0]->data(), params_[0].data(), bias, act_,
                   out.data());
}

}  // namespace nse
