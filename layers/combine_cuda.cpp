// Add's, Concat's and Flatten's CUDA ops: an own kernel and plain copies.
#include "kernels/cuda/ops.h"
#include "layers/combine.h"
#include "layers/cuda_util.h"

namespace nse {

std::unique_ptr<cuda::GpuOp> Add::gpu_op(const Layer& layer, const std::vector<const float*>&) {
    using namespace cuda;
    const Add& add = static_cast<const Add&>(layer);
    if (!add.same_shapes()) return nullptr;  // broadcasts run on the CPU
    const Activation act = add.activation();
    return std::make_unique<LambdaOp>(
        std::string("own add+") + act_name(act) + " kernel",
        [act](const std::vector<Shape>& in, const Shape&) {
            const int64_t n = numel(in[0]);
            return LambdaOp::Fn([n, act](Context& ctx, const LambdaOp::Ins& i, float* y) {
                cuda::add(i[0], i[1], y, n, act, ctx.stream);
            });
        });
}

std::unique_ptr<cuda::GpuOp> Concat::gpu_op(const Layer& layer, const std::vector<const float*>&) {
    using namespace cuda;
    if (!layer.params().empty()) return nullptr;  // a constant piece (a class token): on the CPU
    const int64_t dim = static_cast<const Concat&>(layer).dim();
    return std::make_unique<LambdaOp>(
        "strided copies (cudaMemcpy2DAsync)", [dim](const std::vector<Shape>& in, const Shape& y) {
            const int64_t axis = normalize_axis(dim, y.size(), "concat");
            int64_t outer = 1, after = 1;
            for (int64_t d = 0; d < axis; ++d) outer *= y[d];
            for (size_t d = axis + 1; d < y.size(); ++d) after *= y[d];
            std::vector<size_t> width;  // bytes per outer row of each input
            for (const Shape& s : in) width.push_back(size_t(s[axis] * after) * sizeof(float));
            const size_t pitch = size_t(y[axis] * after) * sizeof(float);
            return LambdaOp::Fn([=](Context& ctx, const LambdaOp::Ins& i, float* out) {
                char* dst = reinterpret_cast<char*>(out);
                for (size_t k = 0; k < i.size(); ++k) {
                    if (width[k] && outer)
                        NSE_CUDA_CHECK(cudaMemcpy2DAsync(dst, pitch, i[k], width[k], width[k],
                                                         size_t(outer), cudaMemcpyDeviceToDevice,
                                                         ctx.stream));
                    dst += width[k];
                }
            });
        });
}

std::unique_ptr<cuda::GpuOp> Flatten::gpu_op(const Layer&, const std::vector<const float*>&) {
    using namespace cuda;
    return std::make_unique<LambdaOp>(
        "copy (cudaMemcpyAsync)", [](const std::vector<Shape>& in, const Shape&) {
            const size_t bytes = size_t(numel(in[0])) * sizeof(float);
            return LambdaOp::Fn([bytes](Context& ctx, const LambdaOp::Ins& i, float* y) {
                if (bytes)
                    NSE_CUDA_CHECK(
                        cudaMemcpyAsync(y, i[0], bytes, cudaMemcpyDeviceToDevice, ctx.stream));
            });
        });
}

}  // namespace nse
