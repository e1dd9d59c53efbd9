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
    NSE_CHECK(params.size() <= 1, ErrorCode::InvalidModel,
              "concat takes at most one weight tensor (a constant piece), got ", params.size());
    dim_ = attr_int(attrs, "dim", 1);
    constant_at_ = attr_int(attrs, "constant_at", 0);
    if (!params.empty())
        NSE_CHECK(params[0].rank() >= 2 && params[0].dim(0) == 1 && constant_at_ >= 0,
                  ErrorCode::InvalidModel,
                  "concat's constant piece must be [1, ...] (one image's) at a position >= 0, got ",
                  shape_str(params[0].shape()), " at ", constant_at_);
    params_ = std::move(params);
}

std::vector<Shape> Concat::pieces(const std::vector<Shape>& in) const {
    std::vector<Shape> all(in);
    if (params_.empty()) return all;
    NSE_CHECK(constant_at_ <= int64_t(in.size()), ErrorCode::InvalidModel, "concat constant_at ",
              constant_at_, " is past its ", in.size(), " inputs");
    Shape c = params_[0].shape();
    c[0] = in[0][0];
    all.insert(all.begin() + constant_at_, c);
    return all;
}

Shape Concat::output_shape(const std::vector<Shape>& in) const {
    const std::vector<Shape> all = pieces(in);
    const int64_t axis = normalize_axis(dim_, all[0].size(), "concat");
    NSE_CHECK(params_.empty() || axis >= 1, ErrorCode::InvalidModel,
              "concat with a constant piece joins along a dimension after the batch, not ", axis);
    Shape out = all[0];
    for (size_t i = 1; i < all.size(); ++i) {
        bool fits = all[i].size() == out.size();
        for (size_t d = 0; fits && d < out.size(); ++d)
            fits = static_cast<int64_t>(d) == axis || all[i][d] == out[d];
        NSE_CHECK(fits, ErrorCode::InvalidModel, "concat along dim ", axis, " cannot join shapes ",
                  shape_str(all[0]), " and ", shape_str(all[i]));
        out[axis] += all[i][axis];
    }
    return out;
}

void Concat::forward(const std::vector<const Tensor*>& in, Tensor& out, float* workspace,
                     ThreadPool& pool) const {
    const Shape& y = out.shape();
    const int64_t axis = normalize_axis(dim_, y.size(), "concat");
    // With a constant piece (axis >= 1) each image is joined apart, the constant the same for
    // all; without one the batch is part of the outer loop.
    const int64_t images = params_.empty() ? 1 : y[0];
    int64_t outer = 1, after = 1;
    for (int64_t i = 0; i < axis; ++i) outer *= y[i];
    for (size_t i = axis + 1; i < y.size(); ++i) after *= y[i];
    outer /= images;
    // At most a handful of inputs in real networks; fixed arrays keep forward allocation-free.
    constexpr int kMaxInputs = 64;
    const int count = int(in.size() + params_.size());
    NSE_CHECK(count <= kMaxInputs, ErrorCode::Unsupported, "concat of more than ", kMaxInputs,
              " tensors");
    int64_t inner[kMaxInputs], image_floats[kMaxInputs];
    const float* base[kMaxInputs];
    for (int i = 0, k = 0; i < count; ++i) {
        const bool constant = !params_.empty() && i == constant_at_;
        const Tensor& t = constant ? params_[0] : *in[k++];
        inner[i] = t.dim(axis) * after;
        base[i] = t.data();
        image_floats[i] = constant ? 0 : t.numel() / images;
    }
    const int64_t out_image = out.numel() / images;
    for (int64_t b = 0; b < images; ++b) {
        const float* src[kMaxInputs];
        for (int i = 0; i < count; ++i) src[i] = base[i] + b * image_floats[i];
        concat_f32_cpu(outer, count, inner, src, out.data() + b * out_image);
    }
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
    return data_cost(kKind, pieces(in), out, numel(out) >= kElementwiseParallelValues);
}

NodeCost Flatten::cost(const std::vector<Shape>& in) const {
    return data_cost(kKind, in, output_shape(in), false);  // a copy on the calling thread
}

void Add::sweep(SweepContext& ctx) { sweep_data_op(ctx, kKind.name, "add", 2); }
void Concat::sweep(SweepContext& ctx) { sweep_data_op(ctx, kKind.name, "concat", 2); }
void Flatten::sweep(SweepContext& ctx) { sweep_data_op(ctx, kKind.name, "flatten", 1); }

}  // namespace nse
