// Linear's CUDA op.
#include <string>

#include "kernels/cuda/ops.h"
#include "layers/cuda_util.h"
#include "layers/linear.h"

namespace nse {

namespace cuda {
namespace {

// Fully connected: y[M, O] = x[M, I] * W[O, I]^T with cuBLAS (column-major: y' = W'^T x'),
// then bias + activation. For one row, cuBLAS's GEMV and GEMM are both measured and the faster
// kept (the weights stream once either way; which kernel does it better depends on the shape).
class LinearOp : public GpuOp {
  public:
    LinearOp(const Linear& layer, const std::vector<const float*>& params)
        : layer_(layer), w_(params[0]), b_(params.size() > 1 ? params[1] : nullptr) {}
    void prepare(Context& ctx, const std::vector<Shape>& in_shapes, const Shape& out_shape,
                 const std::vector<const float*>& in, float* out) override {
        // Every row of [..., I] (a transformer's tokens: [N, L, I]) is one row of the GEMM.
        in_ = in_shapes[0].back();
        rows_ = numel(in_shapes[0]) / in_;
        out_ = out_shape.back();
        gemv_ = false;
        std::string times;
        if (rows_ == 1) {
            const double t_gemm = time_ms(ctx, [&] { multiply(ctx, false, in[0], out); });
            const double t_gemv = time_ms(ctx, [&] { multiply(ctx, true, in[0], out); });
            gemv_ = t_gemv < t_gemm;
            times =
                " (gemv " + std::to_string(t_gemv) + " ms, gemm " + std::to_string(t_gemm) + " ms)";
        }
        how_ = std::string("cuBLAS ") + (gemv_ ? "sgemv" : "sgemm") + ", then bias+" +
               act_name(layer_.activation()) + times;
    }
    void launch(Context& ctx, const std::vector<const float*>& in, float* out, void*) override {
        multiply(ctx, gemv_, in[0], out);
        bias_activation(out, b_, rows_ * out_, out_, 1, layer_.activation(), ctx.stream);
    }

  private:
    void multiply(Context& ctx, bool gemv, const float* x, float* y) {
        if (gemv)
            NSE_CUBLAS_CHECK(cublasSgemv(ctx.cublas, CUBLAS_OP_T, int(in_), int(out_), &kOne, w_,
                                         int(in_), x, 1, &kZero, y, 1));
        else
            NSE_CUBLAS_CHECK(cublasSgemm(ctx.cublas, CUBLAS_OP_T, CUBLAS_OP_N, int(out_),
                                         int(rows_), int(in_), &kOne, w_, int(in_), x, int(in_),
                                         &kZero, y, int(out_)));
    }

    const Linear& layer_;
    const float* w_;
    const float* b_;
    int64_t rows_ = 0, in_ = 0, out_ = 0;
    bool gemv_ = false;
};

}  // namespace
}  // namespace cuda

std::unique_ptr<cuda::GpuOp> Linear::gpu_op(const Layer& layer,
                                            const std::vector<const float*>& params) {
    if (static_cast<const Linear&>(layer).gelu()) return nullptr;  // (no GELU epilogue here yet)
    return std::make_unique<cuda::LinearOp>(static_cast<const Linear&>(layer), params);
}

}  // namespace nse
