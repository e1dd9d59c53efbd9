// linear: y = x w^T + b over the last axis of x [N, ..., I] -> [N, ..., O]; attrs activation;
// params weight [O, I], optional bias [O]; activation relu, relu6 or gelu (a transformer MLP's
// first layer: fused into the token GEMM's stores on AVX-512). A layer whose input has at least
// kLinearTokenRows rows per image (a transformer's tokens) runs as the packed GEMM
// (kernels/cpu/linear.h), cost kind linear_tokens; others stream the weights, kind linear. Its CUDA
// op is in linear_cuda.cpp.
#pragma once

#include "kernels/cpu/packed_gemm.h"
#include "layers/layer.h"
#include "layers/op.h"
#include "layers/sweep.h"

namespace nse {

class Linear : public Layer {
  public:
    void load(const nlohmann::json& attrs, std::vector<Tensor> params) override;
    Shape output_shape(const std::vector<Shape>& in) const override;
    double flops(const std::vector<Shape>& in) const override;
    void forward(const std::vector<const Tensor*>& in, Tensor& out, float* workspace,
                 ThreadPool& pool) const override;
    NodeCost cost(const std::vector<Shape>& in) const override;
    void prepare(const std::vector<Shape>& in) override;
    size_t workspace_floats(const std::vector<Shape>& in, int threads) const override;

    static const CostKind kKind, kTokens;
    // kKind's cost of `rows` matrix-vector products with weights [out, in] (param_bytes with the
    // bias): this layer's, and a 1x1 convolution's of a 1x1 map (conv2d_matrix_vector).
    static NodeCost vector_cost(int64_t rows, int64_t out, int64_t in, int64_t param_bytes);
    // The CUDA op (linear_cuda.cpp; built with NSE_WITH_CUDA only).
    static std::unique_ptr<cuda::GpuOp> gpu_op(const Layer& layer,
                                               const std::vector<const float*>& params);
    static void sweep(SweepContext& ctx);

    Activation activation() const { return act_; }
    // GELU after the bias ("activation": "gelu"; the CUDA op then leaves the node to the CPU).
    bool gelu() const { return gelu_; }
    // Whether prepare() chose the token GEMM.
    bool token_gemm() const { return !packed_.empty(); }

  private:
    Activation act_ = Activation::None;
    bool gelu_ = false;
    PackedWeights packed_;  // the token GEMM's weights, where prepare() chose it
};

}  // namespace nse
