#include "layers/linear.h"

#include "base/thread_pool.h"
#include "kernels/cpu/linear.h"

namespace nse {

void Linear::load(const nlohmann::json& attrs, std::vector<Tensor> params) {
    act_ = attr_activation(attrs);
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

Shape Linear::output_shape(const std::vector<Shape>& in) const {
    const Shape& x = in[0];
    const Shape& w = params_[0].shape();
    NSE_CHECK(x.size() == 2 && x[1] == w[1], ErrorCode::InvalidModel, "linear weight ",
              shape_str(w), " expects input [N, ", w[1], "], got ", shape_str(x));
    return {x[0], w[0]};
}

double Linear::flops(const std::vector<Shape>& in) const {
    const Shape& w = params_[0].shape();
    return 2.0 * in[0][0] * w[0] * w[1];
}

void Linear::forward(const std::vector<const Tensor*>& in, Tensor& out, float* workspace,
                     ThreadPool& pool) const {
    const Shape& w = params_[0].shape();
    const float* bias = params_.size() > 1 ? params_[1].data() : nullptr;
    linear_f32_cpu(pool, in[0]->dim(0), w[1], w[0], in[0]->data(), params_[0].data(), bias, act_,
                   out.data());
}

const CostKind Linear::kKind{
    "linear", {"1", "mflop", "param_mb_cached", "param_mb_streamed"}, false, true};

NodeCost Linear::cost(const std::vector<Shape>& in) const {
    // Weights that stay cached between inferences, or all of them from memory: the sweep
    // measures a layer past kCachedWeightsMb cold, so all its MB are streamed (counted as 16 MB
    // cached and the rest streamed, AlexNet's and VGG16's 16.4 MB 4096 -> 1000 layer came out
    // 31-34 % low).
    const double param_mb = double(param_bytes()) / 1e6, f = flops(in);
    const bool cold = param_mb > kCachedWeightsMb;
    return {
        &kKind, {1, f / 1e6, cold ? 0.0 : param_mb, cold ? param_mb : 0.0}, f >= kMinParallelWork};
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
}

}  // namespace nse
