// Ops that rearrange values without arithmetic: reshape (attr shape, one -1 allowed; the batch
// dimension may be given as 0 to keep it), permute (attr perm) and slice (attrs dim, start, end,
// step = 1; PyTorch's clamping of start and end) — channel shuffle is reshape, permute, reshape;
// chunk and split are slices. Each writes its own copy. No CUDA ops yet: their records declare
// the CPU fallback.
#pragma once

#include "layers/layer.h"
#include "layers/op.h"
#include "layers/sweep.h"

namespace nse {

class Reshape : public Layer {
  public:
    void load(const nlohmann::json& attrs, std::vector<Tensor> params) override;
    Shape output_shape(const std::vector<Shape>& in) const override;
    void forward(const std::vector<const Tensor*>& in, Tensor& out, float* workspace,
                 ThreadPool& pool) const override;
    NodeCost cost(const std::vector<Shape>& in) const override;

    static const CostKind kKind;
    static void sweep(SweepContext& ctx);

  private:
    std::vector<int64_t> shape_;
};

class Permute : public Layer {
  public:
    void load(const nlohmann::json& attrs, std::vector<Tensor> params) override;
    Shape output_shape(const std::vector<Shape>& in) const override;
    void forward(const std::vector<const Tensor*>& in, Tensor& out, float* workspace,
                 ThreadPool& pool) const override;
    NodeCost cost(const std::vector<Shape>& in) const override;

    static const CostKind kKind;
    static void sweep(SweepContext& ctx);

  private:
    std::vector<int64_t> perm_;
};

class Slice : public Layer {
  public:
    void load(const nlohmann::json& attrs, std::vector<Tensor> params) override;
    Shape output_shape(const std::vector<Shape>& in) const override;
    void forward(const std::vector<const Tensor*>& in, Tensor& out, float* workspace,
                 ThreadPool& pool) const override;
    NodeCost cost(const std::vector<Shape>& in) const override;

    static const CostKind kKind;
    static void sweep(SweepContext& ctx);

  private:
    // The first index and the count along the axis of a shape.
    void range(const Shape& s, int64_t* axis, int64_t* first, int64_t* count) const;
    int64_t dim_ = 1, start_ = 0, end_ = INT64_MAX, step_ = 1;
};

}  // namespace nse
