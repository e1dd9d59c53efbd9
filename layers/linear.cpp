#include "layers/linear.h"

#include <cmath>

#include "base/thread_pool.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/linear.h"
#include "kernels/cpu/unary.h"

namespace nse {

void Linear::load(const nlohmann::json& attrs, std::vector<Tensor> params) {
    gelu_ = attrs.contains("activation") && attrs["activation"] == "gelu";
    act_ = gelu_ ? Activation::None : attr_activation(attrs);
    NSE_CHECK(params.size() == 1 || params.size() == 2, ErrorCode::InvalidModel,
              "linear takes a weight and an optional bias, the graph lists ", params.size(),
              " tensors");
    const Shape& w = params[0].shape();
    NSE_CHECK(w.size() == 2 && w[0] > 0 && w[1] > 0, ErrorCode::InvalidModel,
              "linear weight must be [out, in], got ", shape_str(w));
    if (params.size() == 2)
        NSE_CHECK(params[1].shape() == Shape{w[0]}, ErrorCode::InvalidModel,
                  "linear bias must be [", w[0], "], got ", shape_str(params[1].shape()));
    params_ = std::move(params);
}

namespace {
// Rows of the product: every position of x but the last axis.
int64_t rows_of(const Shape& x) { return x.empty() || x.back() == 0 ? 0 : numel(x) / x.back(); }
}  // namespace

Shape Linear::output_shape(const std::vector<Shape>& in) const {
    const Shape& x = in[0];
    const Shape& w = params_[0].shape();
    NSE_CHECK(x.size() >= 2 && x.back() == w[1], ErrorCode::InvalidModel, "linear weight ",
              shape_str(w), " expects input [N, ..., ", w[1], "], got ", shape_str(x));
    Shape out = x;
    out.back() = w[0];
    return out;
}

double Linear::flops(const std::vector<Shape>& in) const {
    const Shape& w = params_[0].shape();
    return 2.0 * double(rows_of(in[0])) * w[0] * w[1];
}

void Linear::prepare(const std::vector<Shape>& in) {
    // Decided at batch 1 and kept at every batch: an image's rows are computed the same way
    // however many images share the run.
    const int64_t rows = rows_of(in[0]);
    if (in[0].size() >= 3 && rows >= kLinearTokenRows && packed_gemm_available()) {
        const Shape& w = params_[0].shape();
        packed_ = PackedWeights(w[0], w[1], params_[0].data(), w[1],
                                linear_tokens_layout(rows, w[1], w[0]));
    }
}

size_t Linear::workspace_floats(const std::vector<Shape>& in, int threads) const {
    return token_gemm() ? linear_tokens_workspace_floats(packed_, rows_of(in[0])) : 0;
}

void Linear::forward(const std::vector<const Tensor*>& in, Tensor& out, float* workspace,
                     ThreadPool& pool) const {
    const Shape& w = params_[0].shape();
    const float* bias = params_.size() > 1 ? params_[1].data() : nullptr;
    const int64_t rows = rows_of(in[0]->shape());
    if (token_gemm())
        return linear_tokens_f32_cpu(pool, rows, packed_, in[0]->data(), bias, act_, gelu_,
                                     out.data(), workspace);
    linear_f32_cpu(pool, rows, w[1], w[0], in[0]->data(), params_[0].data(), bias, act_,
                   out.data());
    if (gelu_) unary_f32_cpu(pool, out.numel(), UnaryOp::Gelu, out.data(), out.data());
}

const CostKind Linear::kKind{
    "linear", {"1", "mflop", "param_mb_cached", "param_mb_streamed"}, false, true};
const CostKind Linear::kTokens{
    "linear_tokens",
    {"1", "mflop_computed", "mflop_few_rows", "in_mb", "out_mb", "mgelu", "param_mb"},
    false,
    true,
    packed_gemm_available};

NodeCost Linear::cost(const std::vector<Shape>& in) const {
    if (token_gemm()) {
        // The packed GEMM with the tokens as its columns: the MFLOP as its tiles compute them
        // (a last panel of 4, 8 or 12 tokens computed whole), few tokens at a lower rate, a
        // fused GELU's values, and the weights read once per inference (from memory, for
        // ViT-L's 4 to 17 MB layers).
        const double f = flops(in), rows = double(rows_of(in[0]));
        const double images = double(in[0][0]);
        const double computed =
            f * double(packed_gemm_computed_columns(packed_.layout(), int64_t(rows / images))) /
            (rows / images);
        const double gelu = gelu_ ? double(numel(output_shape(in))) / 1e6 : 0.0;
        return {&kTokens,
                {1, computed / 1e6, f / 1e6 * std::max(0.0, std::log2(256.0 / rows)), inputs_mb(in),
                 shape_mb(output_shape(in)), gelu, double(param_bytes()) / 1e6},
                f >= kMinParallelWork};
    }
    const Shape& w = params_[0].shape();
    return vector_cost(rows_of(in[0]), w[0], w[1], param_bytes());
}

NodeCost Linear::vector_cost(int64_t rows, int64_t out, int64_t in, int64_t param_bytes) {
    // Weights that stay cached between inferences, or all of them from memory: the sweep
    // measures a layer past kCachedWeightsMb cold, so all its MB are streamed (counted as 16 MB
    // cached and the rest streamed, AlexNet's and VGG16's 16.4 MB 4096 -> 1000 layer came out
    // 31-34 % low). Split over the threads as the kernel splits it (gemm.h's gemv_work).
    const double param_mb = double(param_bytes) / 1e6;
    const double flops = 2.0 * double(rows) * double(out) * double(in);
    const bool cold = param_mb > kCachedWeightsMb;
    return {&kKind,
            {1, flops / 1e6, cold ? 0.0 : param_mb, cold ? param_mb : 0.0},
            gemv_work(rows, out, in) >= kMinParallelWork};
}

void Linear::sweep(SweepContext& ctx) {
    for (int made = 0; made < ctx.count(35); ++made) {
        const int64_t in = ctx.pick(std::vector<int64_t>{84, 120, 256, 400, 512, 1024, 1280, 2048,
                                                         4096, 6400, 9216, 12544, 25088});
        const int64_t o = ctx.pick(std::vector<int64_t>{10, 84, 120, 256, 512, 1000, 2048, 4096});
        SweepCase cfg{kKind.name,
                      "linear",
                      "linear " + std::to_string(in) + "->" + std::to_string(o),
                      {1, in}};
        cfg.params = {{o, in}, {o}};
        ctx.add(cfg);
    }
    // Token rows (a transformer's): the packed GEMM, up to ~2.5 GFLOP an instance.
    if (!kTokens.runs_here()) return;
    for (int made = 0; made < ctx.count(30);) {
        const std::vector<int64_t> widths{96, 192, 256, 320, 384, 512, 640, 1024, 1536, 2560, 4096};
        // (Up to 1024 rows: ViT-H/14 at 518 x 518 has 1370 tokens.)
        const int64_t rows =
            ctx.pick(std::vector<int64_t>{8, 24, 36, 64, 100, 144, 256, 324, 400, 576, 784, 1024});
        const int64_t in = ctx.pick(widths), o = ctx.pick(widths);
        if (2.0 * rows * in * o > 2.5e9) continue;
        SweepCase cfg{kTokens.name,
                      "linear",
                      "linear " + std::to_string(rows) + " rows " + std::to_string(in) + "->" +
                          std::to_string(o),
                      {1, rows, in}};
        cfg.params = {{o, in}, {o}};
        if (ctx.draw() % 2) cfg.attrs["activation"] = "gelu";
        ctx.add(cfg);
        ++made;
    }
}

}  // namespace nse
