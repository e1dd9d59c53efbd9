#include "layers/activation.h"

#include "kernels/cpu/elementwise.h"

namespace nse {

void ActivationLayer::load(const nlohmann::json& attrs, std::vector<Tensor> params) {
    expect_params(params, 0, act_ == Activation::Relu ? "relu" : "relu6");
}

void ActivationLayer::forward(const std::vector<const Tensor*>& in, Tensor& out,
                              float* workspace) const {
    activation_f32_cpu(out.numel(), act_, in[0]->data(), out.data());
}

void Softmax::load(const nlohmann::json& attrs, std::vector<Tensor> params) {
    expect_params(params, 0, "softmax");
    dim_ = attr_int(attrs, "dim", -1);
}

Shape Softmax::output_shape(const std::vector<Shape>& in) const {
    normalize_axis(dim_, in[0].size(), "softmax");
    return in[0];
}

void Softmax::forward(const std::vector<const Tensor*>& in, Tensor& out, float* workspace) const {
    const Shape& x = in[0]->shape();
    const int64_t axis = normalize_axis(dim_, x.size(), "softmax");
    int64_t outer = 1, inner = 1;
    for (int64_t i = 0; i < axis; ++i) outer *= x[i];
    for (size_t i = axis + 1; i < x.size(); ++i) inner *= x[i];
    softmax_f32_cpu(outer, x[axis], inner, in[0]->data(), out.data());
}

}  // namespace nse
