// attention: multi-head scaled dot-product self-attention on packed projections: x [N, L, 3E]
// (each token's q, then k, then v; head h's d = E / heads values at column h d of each third,
// as nn.MultiheadAttention's in_proj makes them) -> [N, L, E] (head h at columns h d ..), with
// out_i = softmax(scale q_i K^T + bias + mask) V per image, window and head. attrs heads (>= 1,
// dividing E), scale (default 1 / sqrt(d)), window (tokens per window, dividing L; 0: all),
// bias, mask and head_scale (booleans: which params follow, in that order), normalize (Swin
// V2's cosine attention: q and k L2-normalised): params bias [heads, w, w] (a relative position
// bias), mask [masks, w, w] (window i of an image takes mask i % masks: Swin's shifted windows)
// and head_scale [heads] (a scale per head, instead of `scale`). The projections before and after
// are linear nodes. One fused CPU kernel (kernels/cpu/attention.h); no CUDA op yet: its record
// declares the CPU fallback.
#pragma once

#include "kernels/cpu/attention.h"
#include "layers/layer.h"
#include "layers/op.h"
#include "layers/sweep.h"

namespace nse {

class Attention : public Layer {
  public:
    void load(const nlohmann::json& attrs, std::vector<Tensor> params) override;
    Shape output_shape(const std::vector<Shape>& in) const override;
    double flops(const std::vector<Shape>& in) const override;
    size_t workspace_floats(const std::vector<Shape>& in, int threads) const override;
    void forward(const std::vector<const Tensor*>& in, Tensor& out, float* workspace,
                 ThreadPool& pool) const override;
    NodeCost cost(const std::vector<Shape>& in) const override;

    static const CostKind kKind;
    static void sweep(SweepContext& ctx);

    int64_t heads() const { return heads_; }
    // The scale for inputs of this shape (the attribute, or 1 / sqrt(d)).
    float scale(const Shape& in) const;
    // The kernel's shape for this input.
    AttentionShape shape_of(const Shape& in) const;

  private:
    int64_t heads_ = 1, window_ = 0;
    double scale_ = 0.0;  // 0: 1 / sqrt(d)
    bool normalize_ = false;
    int bias_index_ = -1, mask_index_ = -1, head_scale_index_ = -1;  // in params_, or -1
    const Tensor* bias() const { return bias_index_ < 0 ? nullptr : &params_[bias_index_]; }
    const Tensor* mask() const { return mask_index_ < 0 ? nullptr : &params_[mask_index_]; }
};

}  // namespace nse
