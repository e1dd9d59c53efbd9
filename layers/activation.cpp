#include "layers/activation.h"

#include "kernels/cpu/elementwise.h"

namespace nse {

const CostKind ActivationLayer::kKind{"activation", data_feature_names(), true, false};

void ActivationLayer::load(const nlohmann::json& attrs, std::vector<Tensor> params) {
    expect_params(params, 0, act_ == Activation::Relu ? "relu" : "relu6");
}

void ActivationLayer::forward(const std::vector<const Tensor*>& in, Tensor& out, float* workspace,
                              ThreadPool& pool) const {
    activation_f32_cpu(pool, out.numel(), act_, in[0]->data(), out.data());
}

NodeCost ActivationLayer::cost(const std::vector<Shape>& in) const {
    return data_cost(kKind, in, in[0], numel(in[0]) >= kElementwiseParallelValues);
}

void ActivationLayer::sweep_relu(SweepContext& ctx) {
    sweep_data_op(ctx, kKind.name, "relu", 1, nlohmann::json::object(), 10);
}

void ActivationLayer::sweep_relu6(SweepContext& ctx) {
    sweep_data_op(ctx, kKind.name, "relu6", 1, nlohmann::json::object(), 10);
}

const CostKind Softmax::kKind{"softmax", data_feature_names(), false, false};

void Softmax::load(const nlohmann::json& attrs, std::vector<Tensor> params) {
    expect_params(params, 0, "softmax");
    dim_ = attr_int(attrs, "dim", -1);
}

Shape Softmax::output_shape(const std::vector<Shape>& in) const {
    normalize_axis(dim_, in[0].size(), "softmax");
    return in[0];
}

void Softmax::forward(const std::vector<const Tensor*>& in, Tensor& out, float* workspace,
                      ThreadPool& pool) const {
    const Shape& x = in[0]->shape();
    const int64_t axis = normalize_axis(dim_, x.size(), "softmax");
    int64_t outer = 1, inner = 1;
    for (int64_t i = 0; i < axis; ++i) outer *= x[i];
    for (size_t i = axis + 1; i < x.size(); ++i) inner *= x[i];
    softmax_f32_cpu(outer, x[axis], inner, in[0]->data(), out.data());
}

NodeCost Softmax::cost(const std::vector<Shape>& in) const {
    return data_cost(kKind, in, in[0], false);  // one thread
}

void Softmax::sweep(SweepContext& ctx) {
    sweep_data_op(ctx, kKind.name, "softmax", 1, {{"dim", 1}});
}

}  // namespace nse
