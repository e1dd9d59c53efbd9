// ActivationLayer's (relu, relu6) and Softmax's CUDA ops. Sigmoid has none yet: a CUDA runtime
// runs it on the CPU (its record says kCpuFallback).
#include "kernels/cuda/ops.h"
#include "layers/activation.h"
#include "layers/cuda_util.h"

namespace nse {

std::unique_ptr<cuda::GpuOp> ActivationLayer::gpu_op(const Layer& layer,
                                                     const std::vector<const float*>&) {
    using namespace cuda;
    const Activation act = static_cast<const ActivationLayer&>(layer).activation();
    return std::make_unique<LambdaOp>(
        std::string("own ") + act_name(act) + " kernel",
        [act](const std::vector<Shape>& in, const Shape&) {
            const int64_t n = numel(in[0]);
            return LambdaOp::Fn([n, act](Context& ctx, const LambdaOp::Ins& i, float* y) {
                cuda::activation(i[0], y, n, act, ctx.stream);
            });
        });
}

std::unique_ptr<cuda::GpuOp> Softmax::gpu_op(const Layer& layer, const std::vector<const float*>&) {
    using namespace cuda;
    const int64_t dim = static_cast<const Softmax&>(layer).dim();
    return std::make_unique<LambdaOp>(
        "own softmax kernel", [dim](const std::vector<Shape>& in, const Shape&) {
            const Shape& x = in[0];
            const int64_t axis = normalize_axis(dim, x.size(), "softmax");
            int64_t outer = 1, inner = 1;
            for (int64_t d = 0; d < axis; ++d) outer *= x[d];
            for (size_t d = axis + 1; d < x.size(); ++d) inner *= x[d];
            const int64_t len = x[axis];
            return LambdaOp::Fn([=](Context& ctx, const LambdaOp::Ins& i, float* y) {
                cuda::softmax(i[0], y, outer, len, inner, ctx.stream);
            });
        });
}

}  // namespace nse
