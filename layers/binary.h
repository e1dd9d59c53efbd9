// Element-wise mul, sub and div with NumPy broadcasting: two inputs, or one input and a constant
// operand stored as the node's one weight tensor (a ConvNeXt layer scale that could not be
// folded). The shapes broadcast to the larger; squeeze-and-excite's [N, C, 1, 1] x [N, C, H, W]
// is the common case. No CUDA ops yet: their records declare the CPU fallback.
#pragma once

#include "kernels/cpu/tensor_ops.h"
#include "layers/layer.h"
#include "layers/op.h"
#include "layers/sweep.h"

namespace nse {

class Binary : public Layer {
  public:
    explicit Binary(BinaryOp op) : op_(op) {}
    void load(const nlohmann::json& attrs, std::vector<Tensor> params) override;
    int arity() const override { return -1; }
    Shape output_shape(const std::vector<Shape>& in) const override;
    double flops(const std::vector<Shape>& in) const override;
    void forward(const std::vector<const Tensor*>& in, Tensor& out, float* workspace,
                 ThreadPool& pool) const override;
    NodeCost cost(const std::vector<Shape>& in) const override;

    static const CostKind kKind;
    template <BinaryOp kOp>
    static std::unique_ptr<Layer> make() {
        return std::make_unique<Binary>(kOp);
    }
    // Broadcasts of a map by one value per channel (as squeeze-and-excite scales) and
    // same-shape pairs.
    static void sweep_mul(SweepContext& ctx);
    static void sweep_sub(SweepContext& ctx);
    static void sweep_div(SweepContext& ctx);

  private:
    // The two operands' shapes: the inputs', or the input's and the constant's.
    std::pair<Shape, Shape> operands(const std::vector<Shape>& in) const;
    BinaryOp op_;
};

// The shape two shapes broadcast to (NumPy's rule); throws Error(InvalidModel) naming `op`.
Shape broadcast_shape(const Shape& a, const Shape& b, const char* op);

}  // namespace nse
