// Pool2d's and AdaptiveAvgPool2d's CUDA ops.
#include <cstdlib>

#include "kernels/cuda/ops.h"
#include "layers/cuda_util.h"
#include "layers/pooling.h"

namespace nse {

namespace cuda {
namespace {

// Max and average pooling through cuDNN; the hand-written kernel where cuDNN's rules differ
// from PyTorch's (dilation, or ceil_mode adding an output row or column).
class PoolOp : public GpuOp {
  public:
    explicit PoolOp(const Pool2d& layer) : layer_(layer) {}
    void prepare(Context&, const std::vector<Shape>& in_shapes, const Shape&,
                 const std::vector<const float*>&, float*) override {
        ps_ = layer_.pool_shape(in_shapes[0]);
        const bool max = layer_.is_max();
        const bool floor_size =
            ps_.p == pool_out_size(ps_.h, ps_.kh, ps_.stride_h, ps_.pad_h, ps_.dil_h, false) &&
            ps_.q == pool_out_size(ps_.w, ps_.kw, ps_.stride_w, ps_.pad_w, ps_.dil_w, false);
        cudnn_ =
            floor_size && ps_.dil_h == 1 && ps_.dil_w == 1 && !std::getenv("NSE_CUDA_OWN_POOL");
        if (cudnn_) {
            const cudnnPoolingMode_t mode = max ? CUDNN_POOLING_MAX
                                            : ps_.count_include_pad
                                                ? CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING
                                                : CUDNN_POOLING_AVERAGE_COUNT_EXCLUDE_PADDING;
            NSE_CUDNN_CHECK(cudnnSetPooling2dDescriptor(
                pool_.d, mode, CUDNN_NOT_PROPAGATE_NAN, int(ps_.kh), int(ps_.kw), int(ps_.pad_h),
                int(ps_.pad_w), int(ps_.stride_h), int(ps_.stride_w)));
            x_.set(ps_.n, ps_.c, ps_.h, ps_.w);
            y_.set(ps_.n, ps_.c, ps_.p, ps_.q);
        }
        how_ = cudnn_ ? "cuDNN pooling" : "own pooling kernel";
    }
    void launch(Context& ctx, const std::vector<const float*>& in, float* out, void*) override {
        if (cudnn_)
            NSE_CUDNN_CHECK(
                cudnnPoolingForward(ctx.cudnn, pool_.d, &kOne, x_.d, in[0], &kZero, y_.d, out));
        else
            pool2d(ps_, layer_.is_max(), in[0], out, ctx.stream);
    }

  private:
    const Pool2d& layer_;
    PoolShape ps_;
    bool cudnn_ = false;
    PoolDesc pool_;
    TensorDesc x_, y_;
};

}  // namespace
}  // namespace cuda

std::unique_ptr<cuda::GpuOp> Pool2d::gpu_op(const Layer& layer, const std::vector<const float*>&) {
    return std::make_unique<cuda::PoolOp>(static_cast<const Pool2d&>(layer));
}

std::unique_ptr<cuda::GpuOp> AdaptiveAvgPool2d::gpu_op(const Layer&,
                                                       const std::vector<const float*>&) {
    using namespace cuda;
    return std::make_unique<LambdaOp>(
        "own adaptive average pooling kernel", [](const std::vector<Shape>& in, const Shape& o) {
            const Shape x = in[0];
            return LambdaOp::Fn([x, o](Context& ctx, const LambdaOp::Ins& i, float* y) {
                cuda::adaptive_avg_pool2d(x[0], x[1], x[2], x[3], o[2], o[3], i[0], y, ctx.stream);
            });
        });
}

}  // namespace nse
