#include "layers/pooling.h"

#include "base/thread_pool.h"
#include "kernels/cpu/pool.h"

namespace nse {

void Pool2d::load(const nlohmann::json& attrs, std::vector<Tensor> params) {
    const char* op = max_ ? "max_pool2d" : "avg_pool2d";
    expect_params(params, 0, op);
    NSE_CHECK(attrs.contains("kernel_size"), ErrorCode::InvalidModel, op,
              " needs attribute kernel_size");
    kernel_ = attr_pair(attrs, "kernel_size", {1, 1});
    stride_ = attr_pair(attrs, "stride", kernel_);
    padding_ = attr_pair(attrs, "padding", {0, 0});
    dilation_ = max_ ? attr_pair(attrs, "dilation", {1, 1}) : std::array<int64_t, 2>{1, 1};
    ceil_mode_ = attr_bool(attrs, "ceil_mode", false);
    count_include_pad_ = attr_bool(attrs, "count_include_pad", true);
    for (int i = 0; i < 2; ++i) {
        NSE_CHECK(kernel_[i] >= 1 && stride_[i] >= 1 && dilation_[i] >= 1 && padding_[i] >= 0,
                  ErrorCode::InvalidModel, op,
                  ": kernel_size, stride, dilation must be >= 1 and padding >= 0");
        NSE_CHECK(2 * padding_[i] <= kernel_[i], ErrorCode::InvalidModel, op,
                  ": padding must be at most half the kernel size (as in PyTorch)");
    }
}

PoolShape Pool2d::pool_shape(const Shape& x) const {
    PoolShape s;
    s.n = x[0], s.c = x[1], s.h = x[2], s.w = x[3];
    s.kh = kernel_[0], s.kw = kernel_[1];
    s.stride_h = stride_[0], s.stride_w = stride_[1];
    s.pad_h = padding_[0], s.pad_w = padding_[1];
    s.dil_h = dilation_[0], s.dil_w = dilation_[1];
    s.ceil_mode = ceil_mode_;
    s.count_include_pad = count_include_pad_;
    s.p = pool_out_size(s.h, s.kh, s.stride_h, s.pad_h, s.dil_h, s.ceil_mode);
    s.q = pool_out_size(s.w, s.kw, s.stride_w, s.pad_w, s.dil_w, s.ceil_mode);
    return s;
}

Shape Pool2d::output_shape(const std::vector<Shape>& in) const {
    const char* op = max_ ? "max_pool2d" : "avg_pool2d";
    const Shape& x = in[0];
    NSE_CHECK(x.size() == 4, ErrorCode::InvalidModel, op, " input must be [N, C, H, W], got ",
              shape_str(x));
    NSE_CHECK(x[2] + 2 * padding_[0] >= dilation_[0] * (kernel_[0] - 1) + 1 &&
                  x[3] + 2 * padding_[1] >= dilation_[1] * (kernel_[1] - 1) + 1,
              ErrorCode::InvalidModel, op, " window does not fit input ", shape_str(x));
    PoolShape s = pool_shape(x);
    return {x[0], x[1], s.p, s.q};
}

double Pool2d::flops(const std::vector<Shape>& in) const {
    PoolShape s = pool_shape(in[0]);
    return static_cast<double>(s.n) * s.c * s.p * s.q * s.kh * s.kw;
}

void Pool2d::forward(const std::vector<const Tensor*>& in, Tensor& out, float* workspace,
                     ThreadPool& pool) const {
    PoolShape s = pool_shape(in[0]->shape());
    if (max_)
        max_pool2d_f32_cpu(pool, s, in[0]->data(), out.data());
    else
        avg_pool2d_f32_cpu(pool, s, in[0]->data(), out.data());
}

void AdaptiveAvgPool2d::load(const nlohmann::json& attrs, std::vector<Tensor> params) {
    expect_params(params, 0, "adaptive_avg_pool2d");
    NSE_CHECK(attrs.contains("output_size"), ErrorCode::InvalidModel,
              "adaptive_avg_pool2d needs attribute output_size");
    size_ = attr_pair(attrs, "output_size", {1, 1});
    NSE_CHECK(size_[0] >= 1 && size_[1] >= 1, ErrorCode::InvalidModel,
              "adaptive_avg_pool2d output_size must be >= 1");
}

Shape AdaptiveAvgPool2d::output_shape(const std::vector<Shape>& in) const {
    const Shape& x = in[0];
    NSE_CHECK(x.size() == 4, ErrorCode::InvalidModel,
              "adaptive_avg_pool2d input must be [N, C, H, W], got ", shape_str(x));
    return {x[0], x[1], size_[0], size_[1]};
}

double AdaptiveAvgPool2d::flops(const std::vector<Shape>& in) const {
    return static_cast<double>(numel(in[0]));
}

void AdaptiveAvgPool2d::forward(const std::vector<const Tensor*>& in, Tensor& out, float* workspace,
                                ThreadPool& pool) const {
    const Shape& x = in[0]->shape();
    adaptive_avg_pool2d_f32_cpu(pool, x[0], x[1], x[2], x[3], size_[0], size_[1], in[0]->data(),
                                out.data());
}

namespace {

std::vector<std::string> pool_features() {
    return {"1", "mflop", "in_mb", "out_mb", "mrows_out", "in_mb_split"};
}

// The kernels work an output row at a time: on small maps the rows' count, not the values, sets
// the time (128 planes of 20x20 and 16 of 160x160, 1280 rows each, both took 24-27 us).
NodeCost pool_cost(const CostKind& kind, const std::vector<Shape>& in, const Shape& out,
                   double flops) {
    const double in_mb = inputs_mb(in);
    const double rows = double(numel(out)) / double(out.size() == 4 ? out[3] : 1) / 1e6;
    return {&kind,
            {1, flops / 1e6, in_mb, shape_mb(out), rows, in_mb >= kSplitInputMb ? in_mb : 0.0},
            kFlopsPerElement * flops >= kMinParallelWork};
}

void sweep_pool(SweepContext& ctx, const std::string& kind, const char* op) {
    for (int made = 0; made < ctx.count(25);) {
        const int64_t c = ctx.pick(SweepContext::channels()), h = ctx.pick(SweepContext::sizes());
        const int64_t k = ctx.pick(std::vector<int64_t>{2, 3});
        if (double(c) * h * h > 8e6) continue;
        SweepCase cfg{kind, op, SweepContext::desc(kind + std::to_string(k), c, h), {1, c, h, h}};
        cfg.attrs = {{"kernel_size", k}, {"stride", 2}, {"padding", k == 3 ? 1 : 0}};
        ctx.add(cfg);
        ++made;
    }
}

}  // namespace

const CostKind Pool2d::kMaxKind{"max_pool", pool_features(), true, false};
const CostKind Pool2d::kAvgKind{"avg_pool", pool_features(), true, false};
const CostKind AdaptiveAvgPool2d::kKind{"adaptive_avg_pool", pool_features(), true, false};

NodeCost Pool2d::cost(const std::vector<Shape>& in) const {
    return pool_cost(max_ ? kMaxKind : kAvgKind, in, output_shape(in), flops(in));
}

void Pool2d::sweep_max(SweepContext& ctx) { sweep_pool(ctx, kMaxKind.name, "max_pool2d"); }
void Pool2d::sweep_avg(SweepContext& ctx) { sweep_pool(ctx, kAvgKind.name, "avg_pool2d"); }

NodeCost AdaptiveAvgPool2d::cost(const std::vector<Shape>& in) const {
    return pool_cost(kKind, in, output_shape(in), flops(in));
}

void AdaptiveAvgPool2d::sweep(SweepContext& ctx) {
    for (int made = 0; made < ctx.count(20);) {
        const int64_t c = ctx.pick(SweepContext::channels()) * 2;
        const int64_t h = ctx.pick(SweepContext::sizes());
        if (double(c) * h * h > 8e6) continue;
        SweepCase cfg{
            kKind.name, "adaptive_avg_pool2d", SweepContext::desc(kKind.name, c, h), {1, c, h, h}};
        cfg.attrs = {{"output_size", ctx.pick(std::vector<int64_t>{1, 1, 6, 7})}};
        ctx.add(cfg);
        ++made;
    }
}

}  // namespace nse
