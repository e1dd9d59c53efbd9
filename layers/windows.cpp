#include "layers/windows.h"

#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/tensor_ops.h"

namespace nse {

namespace {
int64_t whole(int64_t n, int64_t w) { return (n + w - 1) / w * w; }
}  // namespace

void Windows::load(const nlohmann::json& attrs, std::vector<Tensor> params) {
    const char* op = reverse_ ? "window_reverse" : "window_partition";
    expect_params(params, 0, op);
    window_ = attr_pair(attrs, "window", {0, 0});
    shift_ = attr_pair(attrs, "shift", {0, 0});
    for (int i = 0; i < 2; ++i) {
        NSE_CHECK(window_[i] >= 1 && window_[i] <= 4096, ErrorCode::InvalidModel, op,
                  " window must be in [1, 4096], got ", window_[i]);
        NSE_CHECK(shift_[i] >= 0 && shift_[i] < window_[i], ErrorCode::InvalidModel, op,
                  " shift must be in [0, window), got ", shift_[i]);
    }
    if (reverse_) {
        size_ = attr_pair(attrs, "size", {0, 0});
        NSE_CHECK(size_[0] >= 1 && size_[1] >= 1, ErrorCode::InvalidModel,
                  "window_reverse needs its output size [H, W], got ", size_[0], "x", size_[1]);
    }
}

Shape Windows::output_shape(const std::vector<Shape>& in) const {
    const Shape& x = in[0];
    if (!reverse_) {
        NSE_CHECK(x.size() == 4 && x[1] >= 1 && x[2] >= 1 && x[3] >= 1, ErrorCode::InvalidModel,
                  "window_partition takes [N, H, W, C], got ", shape_str(x));
        return {x[0], whole(x[1], window_[0]) * whole(x[2], window_[1]), x[3]};
    }
    const int64_t tokens = whole(size_[0], window_[0]) * whole(size_[1], window_[1]);
    NSE_CHECK(x.size() == 3 && x[1] == tokens && x[2] >= 1, ErrorCode::InvalidModel,
              "window_reverse to ", size_[0], "x", size_[1], " in windows of ", window_[0], "x",
              window_[1], " takes [N, ", tokens, ", C], got ", shape_str(x));
    return {x[0], size_[0], size_[1], x[2]};
}

void Windows::forward(const std::vector<const Tensor*>& in, Tensor& out, float* workspace,
                      ThreadPool& pool) const {
    const Shape& map = reverse_ ? out.shape() : in[0]->shape();
    WindowShape sh{map[0], map[1], map[2], map[3], window_[0], window_[1], shift_[0], shift_[1]};
    window_copy_f32_cpu(pool, sh, reverse_, in[0]->data(), out.data());
}

const CostKind Windows::kKind{"windows", data_feature_names(), true, false};

NodeCost Windows::cost(const std::vector<Shape>& in) const {
    const Shape out = output_shape(in);
    return data_cost(kKind, in, out, numel(out) >= kElementwiseParallelValues);
}

namespace {
// Maps [1, h, h, c] of Swin-like sizes, windows of 7 or 8, half of them shifted.
void sweep_windows(SweepContext& ctx, bool reverse) {
    for (int made = 0; made < ctx.count(10); ++made) {
        const int64_t h = ctx.pick(std::vector<int64_t>{8, 12, 16, 24, 32, 48, 64});
        const int64_t c = ctx.pick(std::vector<int64_t>{64, 128, 192, 256, 384, 512, 768});
        const int64_t w = ctx.pick(std::vector<int64_t>{7, 8});
        const int64_t s = ctx.draw() % 2 ? w / 2 : 0;
        const int64_t tokens = whole(h, w) * whole(h, w);
        SweepCase cfg{Windows::kKind.name, reverse ? "window_reverse" : "window_partition",
                      SweepContext::desc(reverse ? "window_reverse" : "window_partition", c, h),
                      reverse ? Shape{1, tokens, c} : Shape{1, h, h, c}};
        cfg.attrs["window"] = w;
        cfg.attrs["shift"] = s;
        if (reverse) cfg.attrs["size"] = h;
        ctx.add(cfg);
    }
}
}  // namespace

void Windows::sweep_partition(SweepContext& ctx) { sweep_windows(ctx, false); }
void Windows::sweep_reverse(SweepContext& ctx) { sweep_windows(ctx, true); }

}  // namespace nse
