#include "layers/binary.h"

#include <algorithm>

#include "kernels/cpu/elementwise.h"

namespace nse {

namespace {
const char* op_name(BinaryOp op) {
    return op == BinaryOp::Mul   ? "mul"
           : op == BinaryOp::Sub ? "sub"
           : op == BinaryOp::Div ? "div"
                                 : "add";
}
}  // namespace

Shape broadcast_shape(const Shape& a, const Shape& b, const char* op) {
    const size_t r = std::max(a.size(), b.size());
    Shape out(r);
    for (size_t i = 0; i < r; ++i) {
        const int64_t da = i + a.size() >= r ? a[i + a.size() - r] : 1;
        const int64_t db = i + b.size() >= r ? b[i + b.size() - r] : 1;
        NSE_CHECK(da == db || da == 1 || db == 1, ErrorCode::InvalidModel, op, " cannot broadcast ",
                  shape_str(a), " with ", shape_str(b));
        out[i] = da == 1 ? db : da;
    }
    return out;
}

const CostKind Binary::kKind{"binary", data_feature_names(), true, false};

void Binary::load(const nlohmann::json& attrs, std::vector<Tensor> params) {
    NSE_CHECK(params.size() <= 1, ErrorCode::InvalidModel, op_name(op_),
              " takes at most one weight tensor (a constant operand), got ", params.size());
    params_ = std::move(params);
}

std::pair<Shape, Shape> Binary::operands(const std::vector<Shape>& in) const {
    NSE_CHECK(in.size() + params_.size() == 2, ErrorCode::InvalidModel, op_name(op_),
              " needs two operands (inputs and constant), got ", in.size() + params_.size());
    return {in[0], params_.empty() ? in[1] : params_[0].shape()};
}

Shape Binary::output_shape(const std::vector<Shape>& in) const {
    const auto [a, b] = operands(in);
    return broadcast_shape(a, b, op_name(op_));
}

double Binary::flops(const std::vector<Shape>& in) const { return double(numel(output_shape(in))); }

void Binary::forward(const std::vector<const Tensor*>& in, Tensor& out, float* workspace,
                     ThreadPool& pool) const {
    const Tensor& b = params_.empty() ? *in[1] : params_[0];
    binary_f32_cpu(pool, op_, in[0]->shape(), in[0]->data(), b.shape(), b.data(), out.shape(),
                   out.data());
}

NodeCost Binary::cost(const std::vector<Shape>& in) const {
    const Shape out = output_shape(in);
    return data_cost(kKind, in, out, numel(out) >= kElementwiseParallelValues);
}

namespace {
void sweep_binary(SweepContext& ctx, const char* op, int per_kind) {
    sweep_maps(ctx, per_kind, [&](int64_t c, int64_t h) {
        SweepCase cfg{Binary::kKind.name, op, SweepContext::desc(op, c, h), {1, c, h, h}};
        if (ctx.draw() % 2) {
            cfg.params = {{1, c, 1, 1}};  // a scale per channel
        } else {
            cfg.inputs = 2;  // the input times itself
        }
        ctx.add(cfg);
        return true;
    });
}
}  // namespace

void Binary::sweep_mul(SweepContext& ctx) { sweep_binary(ctx, "mul", 20); }
// (Rare in CNNs; a few instances so the kind's fit sees them.)
void Binary::sweep_sub(SweepContext& ctx) { sweep_binary(ctx, "sub", 5); }
void Binary::sweep_div(SweepContext& ctx) { sweep_binary(ctx, "div", 5); }

}  // namespace nse
