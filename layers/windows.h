// Swin's windows as ops of their own, each one copy:
//   window_partition: [N, H, W, C] -> [N, nW wh ww, C]: the map padded with zeros to whole
//     windows (Hp x Wp), rolled by -shift (a shifted window block's cyclic shift: row y of the
//     result is row (y + sh) mod Hp of the padded map), cut into wh x ww windows in row-major
//     order, each window's tokens in a row of its own (the attention op's windows);
//   window_reverse: [N, nW wh ww, C] -> [N, H, W, C], the inverse: windows back into the padded
//     map, rolled by +shift, cropped to `size` [H, W].
// attrs window [wh, ww], shift [sh, sw] (0 <= shift < window; default 0), size (reverse only).
// No CUDA ops yet: their records declare the CPU fallback.
#pragma once

#include <array>

#include "layers/layer.h"
#include "layers/op.h"
#include "layers/sweep.h"

namespace nse {

class Windows : public Layer {
  public:
    explicit Windows(bool reverse) : reverse_(reverse) {}
    void load(const nlohmann::json& attrs, std::vector<Tensor> params) override;
    Shape output_shape(const std::vector<Shape>& in) const override;
    void forward(const std::vector<const Tensor*>& in, Tensor& out, float* workspace,
                 ThreadPool& pool) const override;
    NodeCost cost(const std::vector<Shape>& in) const override;

    static const CostKind kKind;
    static void sweep_partition(SweepContext& ctx);
    static void sweep_reverse(SweepContext& ctx);

  private:
    bool reverse_;
    std::array<int64_t, 2> window_{0, 0}, shift_{0, 0}, size_{0, 0};
};

}  // namespace nse
