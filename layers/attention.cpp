#include "layers/attention.h"

#include <cmath>

#include "base/thread_pool.h"
#include "kernels/cpu/attention.h"

namespace nse {

void Attention::load(const nlohmann::json& attrs, std::vector<Tensor> params) {
    const bool bias = attr_bool(attrs, "bias", false), mask = attr_bool(attrs, "mask", false);
    const bool head_scale = attr_bool(attrs, "head_scale", false);
    normalize_ = attr_bool(attrs, "normalize", false);
    expect_params(params, size_t(bias) + size_t(mask) + size_t(head_scale), "attention");
    heads_ = attr_int(attrs, "heads", 0);
    window_ = attr_int(attrs, "window", 0);
    NSE_CHECK(window_ >= 0, ErrorCode::InvalidModel, "attention window must be >= 0, got ",
              window_);
    NSE_CHECK(heads_ >= 1 && heads_ <= 4096, ErrorCode::InvalidModel,
              "attention heads must be in [1, 4096], got ", heads_);
    scale_ = attr_float(attrs, "scale", 0.0);
    NSE_CHECK(std::isfinite(scale_) && scale_ >= 0.0, ErrorCode::InvalidModel,
              "attention scale must be a positive number (or absent), got ", scale_);
    params_ = std::move(params);
    if (bias) bias_index_ = 0;
    if (mask) mask_index_ = bias ? 1 : 0;
    if (head_scale) {
        head_scale_index_ = int(bias) + int(mask);
        NSE_CHECK(params_[head_scale_index_].shape() == Shape{heads_}, ErrorCode::InvalidModel,
                  "attention head_scale must be [", heads_, "], got ",
                  shape_str(params_[head_scale_index_].shape()));
    }
    const Tensor *bias_ = this->bias(), *mask_ = this->mask();
    for (const Tensor* t : {bias_, mask_})
        NSE_CHECK(!t || (t->rank() == 3 && t->dim(0) >= 1 && t->dim(1) == t->dim(2)),
                  ErrorCode::InvalidModel, "attention ", t == bias_ ? "bias" : "mask",
                  " must be [n, w, w], got ", shape_str(t->shape()));
    if (bias_)
        NSE_CHECK(bias_->dim(0) == heads_, ErrorCode::InvalidModel, "attention bias must have ",
                  heads_, " heads, got ", shape_str(bias_->shape()));
}

AttentionShape Attention::shape_of(const Shape& x) const {
    AttentionShape sh;
    sh.batch = x[0];
    sh.tokens = x[1];
    sh.heads = heads_;
    sh.d = x[2] / 3 / heads_;
    sh.window = window_;
    return sh;
}

Shape Attention::output_shape(const std::vector<Shape>& in) const {
    const Shape& x = in[0];
    NSE_CHECK(x.size() == 3 && x[1] >= 1 && x[2] > 0 && x[2] % (3 * heads_) == 0,
              ErrorCode::InvalidModel, "attention of ", heads_,
              " heads takes [N, L, 3 E] with E a multiple of the heads, got ", shape_str(x));
    NSE_CHECK(x[1] % std::max<int64_t>(window_, 1) == 0, ErrorCode::InvalidModel,
              "attention windows of ", window_, " tokens cannot divide ", x[1]);
    const int64_t w = window_ > 0 ? window_ : x[1];
    const Tensor *bias_ = bias(), *mask_ = mask();
    for (const Tensor* t : {bias_, mask_})
        NSE_CHECK(!t || t->dim(1) == w, ErrorCode::InvalidModel, "attention ",
                  t == bias_ ? "bias" : "mask", " ", shape_str(t->shape()),
                  " does not fit windows of ", w, " tokens");
    return {x[0], x[1], x[2] / 3};
}

float Attention::scale(const Shape& in) const {
    const int64_t d = in[2] / 3 / heads_;
    return scale_ > 0.0 ? float(scale_) : float(1.0 / std::sqrt(double(d)));
}

double Attention::flops(const std::vector<Shape>& in) const {
    const Shape& x = in[0];
    // Q K^T and P V: two multiply-adds per query, key (of its window) and value of a head.
    const int64_t w = window_ > 0 ? window_ : x[1];
    return 4.0 * double(x[0]) * double(x[1]) * double(w) * double(x[2] / 3);
}

size_t Attention::workspace_floats(const std::vector<Shape>& in, int threads) const {
    return attention_workspace_floats(shape_of(in[0]), threads);
}

void Attention::forward(const std::vector<const Tensor*>& in, Tensor& out, float* workspace,
                        ThreadPool& pool) const {
    const Shape& x = in[0]->shape();
    AttentionTerms t;
    t.scale = scale(x);
    t.head_scale = head_scale_index_ < 0 ? nullptr : params_[head_scale_index_].data();
    t.normalize = normalize_;
    t.bias = bias() ? bias()->data() : nullptr;
    t.mask = mask() ? mask()->data() : nullptr;
    t.masks = mask() ? mask()->dim(0) : 1;
    attention_f32_cpu(pool, shape_of(x), t, in[0]->data(), out.data(), workspace);
}

const CostKind Attention::kKind{
    "attention", {"1", "mflop", "mexp", "kunits", "in_mb", "out_mb"}, false, true};

NodeCost Attention::cost(const std::vector<Shape>& in) const {
    // The products (FMAs of a block of queries by a few vectors of keys or value columns), one exp
    // per score (over the keys padded to 16), and per window and head a fixed cost: its keys
    // transposed into scratch, the loops set up (Swin's 64 windows of 49 tokens by 3 heads).
    const Shape& x = in[0];
    const AttentionShape sh = shape_of(x);
    const double exps =
        double(x[0]) * heads_ * double(x[1]) * double(attention_padded_tokens(sh.keys()));
    const double units = double(x[0]) * double(sh.windows()) * double(heads_);
    const double f = flops(in);
    return {&kKind,
            {1, f / 1e6, exps / 1e6, units / 1e3, inputs_mb(in), shape_mb(output_shape(in))},
            f >= kMinParallelWork};
}

void Attention::sweep(SweepContext& ctx) {
    // Windows (Swin's, MaxViT's): 1 to 64 windows of 16 to 64 tokens, with a relative position
    // bias and, for half of them, a mask.
    for (int made = 0; made < ctx.count(20);) {
        const int64_t w = ctx.pick(std::vector<int64_t>{16, 36, 49, 64});
        const int64_t windows = ctx.pick(std::vector<int64_t>{1, 4, 9, 16, 36, 64});
        const int64_t heads = ctx.pick(std::vector<int64_t>{2, 3, 4, 6, 8, 12, 16});
        const int64_t d = ctx.pick(std::vector<int64_t>{16, 32, 48});
        if (4.0 * windows * w * w * heads * d > 3e8) continue;
        SweepCase cfg{kKind.name,
                      "attention",
                      "attention " + std::to_string(windows) + " windows of " + std::to_string(w) +
                          " " + std::to_string(heads) + "x" + std::to_string(d),
                      {1, windows * w, 3 * heads * d}};
        cfg.attrs["heads"] = heads;
        cfg.attrs["window"] = w;
        cfg.attrs["bias"] = true;
        cfg.params = {{heads, w, w}};
        if (ctx.draw() % 2) {
            cfg.attrs["mask"] = true;
            cfg.params.push_back({windows, w, w});
        }
        ctx.add(cfg);
        ++made;
    }
    for (int made = 0; made < ctx.count(25);) {
        // (Long sequences with few heads: ViT-H/14 at 518 x 518 attends over 1370 tokens.)
        const int64_t L =
            ctx.pick(std::vector<int64_t>{16, 36, 49, 64, 100, 144, 225, 324, 400, 576, 784, 1024});
        const int64_t heads = ctx.pick(std::vector<int64_t>{1, 2, 3, 4, 6, 8, 12, 16});
        const int64_t d = ctx.pick(std::vector<int64_t>{16, 32, 48, 64, 80});
        if (4.0 * L * L * heads * d > 1e9) continue;
        SweepCase cfg{kKind.name,
                      "attention",
                      "attention " + std::to_string(L) + " tokens " + std::to_string(heads) + "x" +
                          std::to_string(d),
                      {1, L, 3 * heads * d}};
        cfg.attrs["heads"] = heads;
        ctx.add(cfg);
        ++made;
    }
}

}  // namespace nse
