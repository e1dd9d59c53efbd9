#include "layers/unary.h"

#include "kernels/cpu/elementwise.h"

namespace nse {

const CostKind Unary::kSigmoid{"sigmoid", data_feature_names(), false, false};
const CostKind Unary::kSilu{"silu", data_feature_names(), false, false};
const CostKind Unary::kHardswish{"hardswish", data_feature_names(), true, false};
const CostKind Unary::kHardsigmoid{"hardsigmoid", data_feature_names(), true, false};
const CostKind Unary::kGelu{"gelu", data_feature_names(), false, false};
const CostKind Unary::kTanh{"tanh", data_feature_names(), false, false};

const CostKind& Unary::kind_of(UnaryOp op) {
    switch (op) {
        case UnaryOp::Sigmoid:
            return kSigmoid;
        case UnaryOp::Silu:
            return kSilu;
        case UnaryOp::Hardswish:
            return kHardswish;
        case UnaryOp::Hardsigmoid:
            return kHardsigmoid;
        case UnaryOp::Gelu:
            return kGelu;
        case UnaryOp::Tanh:
            return kTanh;
    }
    return kSigmoid;
}

void Unary::load(const nlohmann::json& attrs, std::vector<Tensor> params) {
    expect_params(params, 0, unary_name(op_));
}

double Unary::flops(const std::vector<Shape>& in) const {
    const double per = op_ == UnaryOp::Gelu                                       ? 12.0
                       : op_ == UnaryOp::Hardswish || op_ == UnaryOp::Hardsigmoid ? 3.0
                                                                                  : 4.0;
    return per * double(numel(in[0]));
}

void Unary::forward(const std::vector<const Tensor*>& in, Tensor& out, float* workspace,
                    ThreadPool& pool) const {
    unary_f32_cpu(pool, out.numel(), op_, in[0]->data(), out.data());
}

NodeCost Unary::cost(const std::vector<Shape>& in) const {
    return data_cost(kind_of(op_), in, in[0], numel(in[0]) >= kElementwiseParallelValues);
}

}  // namespace nse
