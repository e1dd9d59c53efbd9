#include "layers/shape_ops.h"

#include <algorithm>
#include <cstring>

#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/tensor_ops.h"

namespace nse {

const CostKind Reshape::kKind{"reshape", data_feature_names(), false, false};
const CostKind Permute::kKind{"permute", data_feature_names(), true, false};
const CostKind Slice::kKind{"slice", data_feature_names(), true, false};

void Reshape::load(const nlohmann::json& attrs, std::vector<Tensor> params) {
    expect_params(params, 0, "reshape");
    shape_ = attr_ints(attrs, "shape");
    NSE_CHECK(!shape_.empty(), ErrorCode::InvalidModel, "reshape needs a non-empty shape");
    int unknown = 0;
    for (int64_t d : shape_) {
        NSE_CHECK(d >= -1, ErrorCode::InvalidModel, "reshape dimension ", d, " is negative");
        unknown += d == -1;
    }
    NSE_CHECK(unknown <= 1, ErrorCode::InvalidModel, "reshape has more than one -1");
}

Shape Reshape::output_shape(const std::vector<Shape>& in) const {
    Shape out(shape_.begin(), shape_.end());
    // A model file's shapes are at batch 1 (docs/model-format.md): a leading 1 is the batch
    // dimension, which a batch of N keeps.
    if (out.size() > 1 && out[0] == 1 && !in[0].empty()) out[0] = 0;
    int64_t known = 1, missing = -1;
    for (size_t i = 0; i < out.size(); ++i) {
        if (out[i] == 0) {
            NSE_CHECK(i < in[0].size(), ErrorCode::InvalidModel, "reshape keeps dimension ", i,
                      " (0) that ", shape_str(in[0]), " lacks");
            out[i] = in[0][i];
        }
        if (out[i] == -1) {
            missing = int64_t(i);
        } else {
            known *= out[i];
        }
    }
    const int64_t total = numel(in[0]);
    if (missing >= 0) {
        NSE_CHECK(known > 0 && total % known == 0, ErrorCode::InvalidModel, "reshape of ",
                  shape_str(in[0]), " cannot fill a -1");
        out[missing] = total / known;
    }
    NSE_CHECK(numel(out) == total, ErrorCode::InvalidModel, "reshape of ", shape_str(in[0]), " to ",
              shape_str(out), " changes the number of values");
    return out;
}

void Reshape::forward(const std::vector<const Tensor*>& in, Tensor& out, float* workspace,
                      ThreadPool& pool) const {
    if (out.data() != in[0]->data()) std::memcpy(out.data(), in[0]->data(), out.bytes());
}

NodeCost Reshape::cost(const std::vector<Shape>& in) const {
    return data_cost(kKind, in, output_shape(in), false);  // a copy on the calling thread
}

void Reshape::sweep(SweepContext& ctx) {
    sweep_data_op(ctx, kKind.name, "reshape", 1, {{"shape", {0, -1}}});
}

void Permute::load(const nlohmann::json& attrs, std::vector<Tensor> params) {
    expect_params(params, 0, "permute");
    perm_ = attr_ints(attrs, "perm");
    std::vector<int64_t> sorted = perm_;
    std::sort(sorted.begin(), sorted.end());
    for (size_t i = 0; i < sorted.size(); ++i)
        NSE_CHECK(sorted[i] == int64_t(i), ErrorCode::InvalidModel,
                  "permute perm must hold 0..rank-1 once each");
}

Shape Permute::output_shape(const std::vector<Shape>& in) const {
    NSE_CHECK(perm_.size() == in[0].size(), ErrorCode::InvalidModel, "permute of rank ",
              perm_.size(), " cannot take ", shape_str(in[0]));
    Shape out(perm_.size());
    for (size_t i = 0; i < perm_.size(); ++i) out[i] = in[0][perm_[i]];
    return out;
}

void Permute::forward(const std::vector<const Tensor*>& in, Tensor& out, float* workspace,
                      ThreadPool& pool) const {
    permute_f32_cpu(pool, in[0]->shape(), perm_, in[0]->data(), out.data());
}

NodeCost Permute::cost(const std::vector<Shape>& in) const {
    return data_cost(kKind, in, in[0], numel(in[0]) >= kElementwiseParallelValues);
}

void Permute::sweep(SweepContext& ctx) {
    // Channels-last and back, and the channel shuffle's swap of two middle axes.
    sweep_maps(ctx, 20, [&](int64_t c, int64_t h) {
        const uint32_t pick = ctx.draw() % 3;
        SweepCase cfg{kKind.name, "permute", SweepContext::desc("permute", c, h), {1, c, h, h}};
        if (pick == 0) cfg.attrs["perm"] = {0, 2, 3, 1};
        if (pick == 1) cfg.attrs["perm"] = {0, 3, 1, 2};
        if (pick == 2) {
            if (c % 2) return false;
            cfg.input = {1, 2, c / 2, h * h};
            cfg.attrs["perm"] = {0, 2, 1, 3};
        }
        ctx.add(cfg);
        return true;
    });
}

void Slice::load(const nlohmann::json& attrs, std::vector<Tensor> params) {
    expect_params(params, 0, "slice");
    dim_ = attr_int(attrs, "dim", 1);
    start_ = attr_int(attrs, "start", 0);
    end_ = attr_int(attrs, "end", INT64_MAX);
    step_ = attr_int(attrs, "step", 1);
    NSE_CHECK(step_ >= 1, ErrorCode::InvalidModel, "slice step must be at least 1, got ", step_);
}

void Slice::range(const Shape& s, int64_t* axis, int64_t* first, int64_t* count) const {
    *axis = normalize_axis(dim_, s.size(), "slice");
    const int64_t d = s[*axis];
    auto clamp = [d](int64_t v) { return std::min(std::max(v < 0 ? v + d : v, int64_t(0)), d); };
    const int64_t b = clamp(start_), e = clamp(end_);
    *first = b;
    *count = e > b ? (e - b + step_ - 1) / step_ : 0;
}

Shape Slice::output_shape(const std::vector<Shape>& in) const {
    int64_t axis, first, count;
    range(in[0], &axis, &first, &count);
    NSE_CHECK(count > 0, ErrorCode::InvalidModel, "slice [", start_, ":", end_, "] of dim ", axis,
              " of ", shape_str(in[0]), " is empty");
    Shape out = in[0];
    out[axis] = count;
    return out;
}

void Slice::forward(const std::vector<const Tensor*>& in, Tensor& out, float* workspace,
                    ThreadPool& pool) const {
    const Shape& s = in[0]->shape();
    int64_t axis, first, count;
    range(s, &axis, &first, &count);
    int64_t outer = 1, inner = 1;
    for (int64_t i = 0; i < axis; ++i) outer *= s[i];
    for (size_t i = axis + 1; i < s.size(); ++i) inner *= s[i];
    slice_f32_cpu(outer, s[axis], inner, first, step_, count, in[0]->data(), out.data());
}

NodeCost Slice::cost(const std::vector<Shape>& in) const {
    return data_cost(kKind, in, output_shape(in), false);  // copies on the calling thread
}

void Slice::sweep(SweepContext& ctx) {
    sweep_maps(ctx, 20, [&](int64_t c, int64_t h) {
        if (c < 2) return false;
        SweepCase cfg{kKind.name, "slice", SweepContext::desc("slice", c, h), {1, c, h, h}};
        const bool second = ctx.draw() % 2;  // chunk(2)'s first or second half
        cfg.attrs = {{"dim", 1}, {"start", second ? c / 2 : 0}, {"end", second ? c : c / 2}};
        ctx.add(cfg);
        return true;
    });
}

}  // namespace nse
