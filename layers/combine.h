// Ops that join or reshape tensors: add (two inputs, or one and a constant operand as its weight
// tensor, broadcast as NumPy does; optional activation),
// concat (attr dim; optionally one constant piece, its weight tensor [1, ...] repeated for every
// image, placed before input `constant_at`: a transformer's class token), flatten (attrs start_dim
// = 1, end_dim = -1). Their CUDA ops are in combine_cuda.cpp.
#pragma once

#include "layers/layer.h"
#include "layers/op.h"
#include "layers/sweep.h"

namespace nse {

class Add : public Layer {
  public:
    void load(const nlohmann::json& attrs, std::vector<Tensor> params) override;
    int arity() const override { return -1; }
    Shape output_shape(const std::vector<Shape>& in) const override;
    double flops(const std::vector<Shape>& in) const override {
        return double(numel(output_shape(in)));
    }
    void forward(const std::vector<const Tensor*>& in, Tensor& out, float* workspace,
                 ThreadPool& pool) const override;
    NodeCost cost(const std::vector<Shape>& in) const override;

    static const CostKind kKind;
    // The CUDA op (combine_cuda.cpp; built with NSE_WITH_CUDA only).
    static std::unique_ptr<cuda::GpuOp> gpu_op(const Layer& layer,
                                               const std::vector<const float*>& params);
    static void sweep(SweepContext& ctx);

    void prepare(const std::vector<Shape>& in) override;

    Activation activation() const { return act_; }
    // Two inputs of one shape (what the CUDA kernel takes), as prepare() found them.
    bool same_shapes() const { return same_shapes_; }

  private:
    Activation act_ = Activation::None;
    bool same_shapes_ = true;
};

class Concat : public Layer {
  public:
    void load(const nlohmann::json& attrs, std::vector<Tensor> params) override;
    int arity() const override { return -1; }
    Shape output_shape(const std::vector<Shape>& in) const override;
    void forward(const std::vector<const Tensor*>& in, Tensor& out, float* workspace,
                 ThreadPool& pool) const override;
    NodeCost cost(const std::vector<Shape>& in) const override;

    static const CostKind kKind;
    // The CUDA op (combine_cuda.cpp; built with NSE_WITH_CUDA only).
    static std::unique_ptr<cuda::GpuOp> gpu_op(const Layer& layer,
                                               const std::vector<const float*>& params);
    static void sweep(SweepContext& ctx);

    int64_t dim() const { return dim_; }

  private:
    // The pieces in order, the constant's batch dimension set to the inputs'.
    std::vector<Shape> pieces(const std::vector<Shape>& in) const;

    int64_t dim_ = 1;
    int64_t constant_at_ = 0;  // where the constant piece goes, if there is one
};

class Flatten : public Layer {
  public:
    void load(const nlohmann::json& attrs, std::vector<Tensor> params) override;
    Shape output_shape(const std::vector<Shape>& in) const override;
    void forward(const std::vector<const Tensor*>& in, Tensor& out, float* workspace,
                 ThreadPool& pool) const override;
    NodeCost cost(const std::vector<Shape>& in) const override;

    static const CostKind kKind;
    // The CUDA op (combine_cuda.cpp; built with NSE_WITH_CUDA only).
    static std::unique_ptr<cuda::GpuOp> gpu_op(const Layer& layer,
                                               const std::vector<const float*>& params);
    static void sweep(SweepContext& ctx);

  private:
    int64_t start_ = 1, end_ = -1;
};

}  // namespace nse
