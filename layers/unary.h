// Element-wise functions beyond the clamps: sigmoid, silu, hardswish, hardsigmoid, gelu, tanh
// (kernels/cpu/unary.h). No CUDA ops yet: their records declare the CPU fallback.
#pragma once

#include "kernels/cpu/unary.h"
#include "layers/layer.h"
#include "layers/op.h"
#include "layers/sweep.h"

namespace nse {

class Unary : public Layer {
  public:
    explicit Unary(UnaryOp op) : op_(op) {}
    void load(const nlohmann::json& attrs, std::vector<Tensor> params) override;
    Shape output_shape(const std::vector<Shape>& in) const override { return in[0]; }
    // Operations per value, roughly: an exponential counts as 4 (hardswish and hardsigmoid 3,
    // GELU's erfc 12).
    double flops(const std::vector<Shape>& in) const override;
    void forward(const std::vector<const Tensor*>& in, Tensor& out, float* workspace,
                 ThreadPool& pool) const override;
    NodeCost cost(const std::vector<Shape>& in) const override;

    UnaryOp op() const { return op_; }

    // One cost kind per function (their arithmetic differs: hardswish is a few operations, GELU
    // an exponential and a division).
    static const CostKind kSigmoid, kSilu, kHardswish, kHardsigmoid, kGelu, kTanh;
    static const CostKind& kind_of(UnaryOp op);
    template <UnaryOp kOp>
    static std::unique_ptr<Layer> make() {
        return std::make_unique<Unary>(kOp);
    }
    template <UnaryOp kOp>
    static void sweep(SweepContext& ctx) {
        sweep_data_op(ctx, kind_of(kOp).name, unary_name(kOp), 1);
    }

  private:
    UnaryOp op_;
};

}  // namespace nse
