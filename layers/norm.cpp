#include "layers/norm.h"

#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/tensor_ops.h"

namespace nse {

namespace {
// outer x d x inner around axis `axis` of `s`.
void split_at(const Shape& s, int64_t axis, int64_t* outer, int64_t* inner) {
    *outer = *inner = 1;
    for (int64_t i = 0; i < axis; ++i) *outer *= s[i];
    for (size_t i = axis + 1; i < s.size(); ++i) *inner *= s[i];
}
}  // namespace

const CostKind BatchNorm::kKind{"batch_norm", data_feature_names(), true, false};

void BatchNorm::load(const nlohmann::json& attrs, std::vector<Tensor> params) {
    expect_params(params, 2, "batch_norm");
    NSE_CHECK(params[0].rank() == 1 && params[1].shape() == params[0].shape(),
              ErrorCode::InvalidModel,
              "batch_norm scale and shift must be two vectors of one size");
    act_ = attr_activation(attrs);
    params_ = std::move(params);
}

Shape BatchNorm::output_shape(const std::vector<Shape>& in) const {
    NSE_CHECK(in[0].size() >= 2 && in[0][1] == params_[0].dim(0), ErrorCode::InvalidModel,
              "batch_norm of ", params_[0].dim(0), " channels cannot take ", shape_str(in[0]));
    return in[0];
}

void BatchNorm::forward(const std::vector<const Tensor*>& in, Tensor& out, float* workspace,
                        ThreadPool& pool) const {
    int64_t outer, inner;
    split_at(in[0]->shape(), 1, &outer, &inner);
    channel_affine_f32_cpu(pool, outer, in[0]->dim(1), inner, params_[0].data(), params_[1].data(),
                           act_, in[0]->data(), out.data());
}

NodeCost BatchNorm::cost(const std::vector<Shape>& in) const {
    return data_cost(kKind, in, in[0], numel(in[0]) >= kElementwiseParallelValues);
}

void BatchNorm::sweep(SweepContext& ctx) {
    sweep_maps(ctx, 20, [&](int64_t c, int64_t h) {
        SweepCase cfg{
            kKind.name, "batch_norm", SweepContext::desc("batch_norm", c, h), {1, c, h, h}};
        cfg.params = {{c}, {c}};
        if (ctx.draw() % 2) cfg.attrs["activation"] = "relu";
        ctx.add(cfg);
        return true;
    });
}

const CostKind LayerNorm::kKind{"layer_norm", data_feature_names(), false, false};

void LayerNorm::load(const nlohmann::json& attrs, std::vector<Tensor> params) {
    NSE_CHECK(params.empty() || params.size() == 2, ErrorCode::InvalidModel,
              "layer_norm takes 0 or 2 weight tensors (weight, bias), got ", params.size());
    if (params.size() == 2)
        NSE_CHECK(params[0].rank() == 1 && params[1].shape() == params[0].shape(),
                  ErrorCode::InvalidModel,
                  "layer_norm weight and bias must be vectors of one size");
    dim_ = attr_int(attrs, "dim", -1);
    const double eps = attr_float(attrs, "eps", 1e-5);
    NSE_CHECK(eps > 0 && eps < 1, ErrorCode::InvalidModel, "layer_norm eps must be in (0, 1), got ",
              eps);
    eps_ = float(eps);
    params_ = std::move(params);
}

Shape LayerNorm::output_shape(const std::vector<Shape>& in) const {
    const int64_t axis = normalize_axis(dim_, in[0].size(), "layer_norm");
    if (!params_.empty())
        NSE_CHECK(in[0][axis] == params_[0].dim(0), ErrorCode::InvalidModel, "layer_norm over ",
                  params_[0].dim(0), " values cannot take dim ", axis, " of ", shape_str(in[0]));
    return in[0];
}

void LayerNorm::forward(const std::vector<const Tensor*>& in, Tensor& out, float* workspace,
                        ThreadPool& pool) const {
    const Shape& s = in[0]->shape();
    const int64_t axis = normalize_axis(dim_, s.size(), "layer_norm");
    int64_t outer, inner;
    split_at(s, axis, &outer, &inner);
    const float* g = params_.empty() ? nullptr : params_[0].data();
    const float* b = params_.empty() ? nullptr : params_[1].data();
    layer_norm_f32_cpu(pool, outer, s[axis], inner, g, b, eps_, in[0]->data(), out.data());
}

NodeCost LayerNorm::cost(const std::vector<Shape>& in) const {
    return data_cost(kKind, in, in[0], numel(in[0]) >= kElementwiseParallelValues);
}

void LayerNorm::sweep(SweepContext& ctx) {
    sweep_maps(ctx, 20, [&](int64_t c, int64_t h) {
        SweepCase cfg{
            kKind.name, "layer_norm", SweepContext::desc("layer_norm", c, h), {1, c, h, h}};
        cfg.params = {{c}, {c}};
        cfg.attrs["dim"] = 1;  // over the channels of a map (ConvNeXt's blocks)
        ctx.add(cfg);
        return true;
    });
}

}  // namespace nse
