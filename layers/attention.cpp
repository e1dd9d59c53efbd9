#include "layers/attention.h"

#include <cmath>

#include "base/thread_pool.h"
#include "kernels/cpu/attention.h"

namespace nse {

void Attention::load(const nlohmann::json& attrs, std::vector<Tensor> params) {
    expect_params(params, 0, "attention");
    heads_ = attr_int(attrs, "heads", 0);
    NSE_CHECK(heads_ >= 1 && heads_ <= 4096, ErrorCode::InvalidModel,
              "attention heads must be in [1, 4096], got ", heads_);
    scale_ = attr_float(attrs, "scale", 0.0);
    NSE_CHECK(std::isfinite(scale_) && scale_ >= 0.0, ErrorCode::InvalidModel,
              "attention scale must be a positive number (or absent), got ", scale_);
}

Shape Attention::output_shape(const std::vector<Shape>& in) const {
    const Shape& x = in[0];
    NSE_CHECK(x.size() == 3 && x[1] >= 1 && x[2] > 0 && x[2] % (3 * heads_) == 0,
              ErrorCode::InvalidModel, "attention of ", heads_,
              " heads takes [N, L, 3 E] with E a multiple of the heads, got ", shape_str(x));
    return {x[0], x[1], x[2] / 3};
}

float Attention::scale(const Shape& in) const {
    const int64_t d = in[2] / 3 / heads_;
    return scale_ > 0.0 ? float(scale_) : float(1.0 / std::sqrt(double(d)));
}

double Attention::flops(const std::vector<Shape>& in) const {
    const Shape& x = in[0];
    // Q K^T and P V: two multiply-adds per query, key and value of a head.
    return 4.0 * double(x[0]) * double(x[1]) * double(x[1]) * double(x[2] / 3);
}

size_t Attention::workspace_floats(const std::vector<Shape>& in, int threads) const {
    return attention_workspace_floats(in[0][1], in[0][2] / 3 / heads_, threads);
}

void Attention::forward(const std::vector<const Tensor*>& in, Tensor& out, float* workspace,
                        ThreadPool& pool) const {
    const Shape& x = in[0]->shape();
    attention_f32_cpu(pool, x[0], x[1], heads_, x[2] / 3 / heads_, scale(x), in[0]->data(),
                      out.data(), workspace);
}

const CostKind Attention::kKind{"attention", {"1", "mflop", "mexp", "in_mb", "out_mb"}, false,
                                true};

NodeCost Attention::cost(const std::vector<Shape>& in) const {
    // The products (FMAs of 4 queries by a few vectors of keys or value columns), one exp per
    // score, and the K transposed into scratch per head.
    const Shape& x = in[0];
    const double exps = double(x[0]) * heads_ * double(x[1]) * double(x[1]);
    const double f = flops(in);
    return {&kKind,
            {1, f / 1e6, exps / 1e6, inputs_mb(in), shape_mb(output_shape(in))},
            f >= kMinParallelWork};
}

void Attention::sweep(SweepContext& ctx) {
    for (int made = 0; made < ctx.count(25);) {
        const int64_t L = ctx.pick(std::vector<int64_t>{16, 36, 49, 64, 100, 144, 225, 324, 400});
        const int64_t heads = ctx.pick(std::vector<int64_t>{1, 2, 3, 4, 6, 8, 12, 16});
        const int64_t d = ctx.pick(std::vector<int64_t>{16, 32, 48, 64, 80});
        if (4.0 * L * L * heads * d > 1e9) continue;
        SweepCase cfg{kKind.name,
                      "attention",
                      "attention " + std::to_string(L) + " tokens " + std::to_string(heads) +
                          "x" + std::to_string(d),
                      {1, L, 3 * heads * d}};
        cfg.attrs["heads"] = heads;
        ctx.add(cfg);
        ++made;
    }
}

}  // namespace nse
