#include "layers/combine.h"

#include <cstring>

#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/tensor_ops.h"
#include "layers/binary.h"

namespace nse {

void Add::load(const nlohmann::json& attrs, std::vector<Tensor> params) {
    NSE_CHECK(params.size() <= 1, ErrorCode::InvalidModel,
              "add takes at most one weight tensor (a constant operand), got ", params.size());
    act_ = attr_activation(attrs);
    params_ = std::move(params);
}

Shape Add::output_shape(const std::vector<Shape>& in) const {
    NSE_CHECK(in.size() + params_.size() == 2, ErrorCode::InvalidModel,
              "add needs two operands (inputs and constant), got ", in.size() + params_.size());
    return broadcast_shape(in[0], params_.empty() ? in[1] : params_[0].shape(), "add");
}

void Add::prepare(const std::vector<Shape>& in) {
    same_shapes_ = params_.empty() && in.size() == 2 && in[0] == in[1];
}

void Add::forward(const std::vector<const Tensor*>& in, Tensor& out, float* workspace,
                  ThreadPool& pool) const {
    const Tensor& b = params_.empty() ? *in[1] : params_[0];
    if (b.shape() == out.shape() && in[0]->shape() == out.shape())
        return add_f32_cpu(pool, out.numel(), in[0]->data(), b.data(), act_, out.data());
    // A broadcast: the sum, then the clamp in place.
    binary_f32_cpu(pool, BinaryOp::Add, in[0]->shape(), in[0]->data(), b.shape(), b.data(),
                   out.shape(), out.data());
    if (act_ != Activation::None)
        activation_f32_cpu(pool, out.numel(), act_, out.data(), out.data());
}

void Concat::load(const nlohmann::json& attrs, std::vector<Tensor> params) {
    expect_params(params, 0, "concat");
    dim_ = attr_int(attrs, "dim", 1);
}

Shape Concat::output_shape(const std::vector<Shape>& in) const {
    const int64_t axis = normalize_axis(dim_, in[0].size(), "concat");
    Shape out = in[0];
    for (size_t i = 1; i < in.size(); ++i) {
        bool fits = in[i].size() == out.size();
        for (size_t d = 0; fits && d < out.size(); ++d)
            fits = static_cast<int64_t>(d) == axis || in[i][d] == out[d];
        NSE_CHECK(fits, ErrorCode::InvalidModel, "concat along dim ", axis, " cannot join shapes ",
                  shape_str(in[0]), " and ", shape_str(in[i]));
        out[axis] += in[i][axis];
    }
    return out;
}

void Concat::forward(const std::vector<const Tensor*>& in, Tensor& out, float* workspace,
                     ThreadPool& pool) const {
    const Shape& y = out.shape();
    const int64_t axis = normalize_axis(dim_, y.size(), "concat");
    int64_t outer = 1, after = 1;
    for (int64_t i = 0; i < axis; ++i) outer *= y[i];
    for (size_t i = axis + 1; i < y.size(); ++i) after *= y[i];
    // At most a handful of inputs in real networks; fixed arrays keep forward allocation-free.
    constexpr int kMaxInputs = 64;
    NSE_CHECK(in.size() <= kMaxInputs, ErrorCode::Unsupported, "concat of more than ", kMaxInputs,
              " tensors");
    int64_t inner[kMaxInputs];
    const float* src[kMaxInputs];
    for (size_t i = 0; i < in.size(); ++i) {
        inner[i] = in[i]->dim(axis) * after;
        src[i] = in[i]->data();
    }
    concat_f32_cpu(outer, static_cast<int>(in.size()), inner, src, out.data());
}

void Flatten::load(const nlohmann::json& attrs, std::vector<Tensor> params) {
    expect_params(params, 0, "flatten");
    start_ = attr_int(attrs, "start_dim", 1);
    end_ = attr_int(attrs, "end_dim", -1);
}

Shape Flatten::output_shape(const std::vector<Shape>& in) const {
    const Shape& x = in[0];
    const int64_t s = normalize_axis(start_, x.size(), "flatten start");
    const int64_t e = normalize_axis(end_, x.size(), "flatten end");
    NSE_CHECK(s <= e, ErrorCode::InvalidModel, "flatten start_dim ", s, " is after end_dim ", e);
    Shape out(x.begin(), x.begin() + s);
    int64_t merged = 1;
    for (int64_t i = s; i <= e; ++i) merged *= x[i];
    out.push_back(merged);
    out.insert(out.end(), x.begin() + e + 1, x.end());
    return out;
}

void Flatten::forward(const std::vector<const Tensor*>& in, Tensor& out, float* workspace,
                      ThreadPool& pool) const {
    // A copy keeps every tensor in its own buffer; it is a few KB in real networks.
    if (out.data() != in[0]->data()) std::memcpy(out.data(), in[0]->data(), out.bytes());
}

const CostKind Add::kKind{"add", data_feature_names(), true, false};
const CostKind Concat::kKind{"concat", data_feature_names(), true, false};
const CostKind Flatten::kKind{"flatten", data_feature_names(), false, false};

NodeCost Add::cost(const std::vector<Shape>& in) const {
    const Shape out = output_shape(in);
    return data_cost(kKind, in, out, numel(out) >= kElementwiseParallelValues);
}

NodeCost Concat::cost(const std::vector<Shape>& in) const {
    const Shape out = output_shape(in);
    return data_cost(kKind, in, out, numel(out) >= kElementwiseParallelValues);
}

NodeCost Flatten::cost(const std::vector<Shape>& in) const {
    return data_cost(kKind, in, output_shape(in), false);  // a copy on the calling thread
}

void Add::sweep(SweepContext& ctx) { sweep_data_op(ctx, kKind.name, "add", 2); }
void Concat::sweep(SweepContext& ctx) { sweep_data_op(ctx, kKind.name, "concat", 2); }
void Flatten::sweep(SweepContext& ctx) { sweep_data_op(ctx, kKind.name, "flatten", 1); }

}  // namespace nse
