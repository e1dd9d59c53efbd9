// conv2d: attrs stride, padding, dilation (int or [h, w]), groups, activation (none/relu/relu6);
// params weight [K, C/groups, R, S] and optional bias [K]. Its cost kinds and sweep are in
// conv2d_cost.cpp, its CUDA op in conv2d_cuda.cpp.
#pragma once

#include "kernels/cpu/packed_gemm.h"
#include "layers/layer.h"
#include "layers/op.h"
#include "layers/sweep.h"

namespace nse {

class Conv2d : public Layer {
  public:
    void load(const nlohmann::json& attrs, std::vector<Tensor> params) override;
    Shape output_shape(const std::vector<Shape>& in) const override;
    double flops(const std::vector<Shape>& in) const override;
    // Transforms the weights for the Winograd kernel where it applies to these shapes.
    void prepare(const std::vector<Shape>& in) override;
    size_t workspace_floats(const std::vector<Shape>& in, int threads) const override;
    void forward(const std::vector<const Tensor*>& in, Tensor& out, float* workspace,
                 ThreadPool& pool) const override;
    NodeCost cost(const std::vector<Shape>& in) const override;
    double weight_read_mb(const std::vector<Shape>& in) const override;

    // The kinds a convolution runs as: im2col + GEMM, 1x1 GEMM, Winograd, direct, depthwise.
    static const CostKind kGemm, kPointwise, kWinograd, kDirect, kDepthwise;
    // The CUDA op (conv2d_cuda.cpp; built with NSE_WITH_CUDA only).
    static std::unique_ptr<cuda::GpuOp> gpu_op(const Layer& layer,
                                               const std::vector<const float*>& params);
    static void sweep(SweepContext& ctx);

    // The kernel shape for an input shape (validated by output_shape first).
    ConvShape conv_shape(const Shape& x) const;
    Activation activation() const { return act_; }

    // Whether the Winograd path runs this input: the filter was transformed (by prepare()) for
    // the tile size winograd_tile() picks for it.
    bool runs_winograd(const ConvShape& cs) const;

  private:
    const CostKind& kind_for(const ConvShape& cs) const;

    std::array<int64_t, 2> stride_{1, 1}, padding_{0, 0}, dilation_{1, 1};
    int64_t groups_ = 1;
    Activation act_ = Activation::None;
    int winograd_tile_ = 0;  // 4 or 2 where prepare() transformed the filter, else 0
    Tensor winograd_u_;      // [36 or 16, K, C]: 4x / 1.8x the weights, so only where it runs
    std::vector<PackedWeights> winograd_packed_;  // u packed per position, where that runs
    std::vector<PackedWeights> packed_;           // per group, for the GEMM paths (prepare)
    Tensor direct_w_;  // the direct path's layout of the weights, where it applies (prepare)
};

}  // namespace nse
