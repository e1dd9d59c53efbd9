// Conv2d's CUDA op.
#include <cmath>

#include "kernels/cuda/ops.h"
#include "layers/conv2d.h"
#include "layers/cuda_util.h"

namespace nse {

namespace cuda {
namespace {

const char* algo_name(cudnnConvolutionFwdAlgo_t a) {
    switch (a) {
        case CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM:
            return "implicit-gemm";
        case CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM:
            return "implicit-precomp-gemm";
        case CUDNN_CONVOLUTION_FWD_ALGO_GEMM:
            return "gemm";
        case CUDNN_CONVOLUTION_FWD_ALGO_DIRECT:
            return "direct";
        case CUDNN_CONVOLUTION_FWD_ALGO_FFT:
            return "fft";
        case CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING:
            return "fft-tiling";
        case CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD:
            return "winograd";
        case CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED:
            return "winograd-nonfused";
        default:
            return "?";
    }
}

constexpr size_t kMaxConvWorkspace = size_t(1) << 30;

// Convolution: cuDNN with the algorithm found fastest by measurement (TF32 excluded unless
// asked for; FFT and Winograd only where accurate on this layer), bias + ReLU fused into cuDNN's
// call where it accepts it. Two hand-written alternatives are measured against it and taken when
// faster: for depthwise convolutions our kernel, for pointwise (1x1, stride 1) ones a cuBLAS GEMM
// per image followed by our bias + activation kernel.
class ConvOp : public GpuOp {
  public:
    ConvOp(const Conv2d& layer, const std::vector<const float*>& params)
        : layer_(layer), w_(params[0]), b_(params.size() > 1 ? params[1] : nullptr) {}

    void prepare(Context& ctx, const std::vector<Shape>& in_shapes, const Shape& out_shape,
                 const std::vector<const float*>& in, float* out) override {
        cs_ = layer_.conv_shape(in_shapes[0]);
        act_ = layer_.activation();
        x_.set(cs_.n, cs_.c, cs_.h, cs_.w);
        y_.set(cs_.n, cs_.k, cs_.p(), cs_.q());
        bias_.set(1, cs_.k, 1, 1);
        NSE_CUDNN_CHECK(cudnnSetFilter4dDescriptor(w_desc_.d, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW,
                                                   int(cs_.k), int(cs_.c / cs_.groups), int(cs_.r),
                                                   int(cs_.s)));
        NSE_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(
            conv_.d, int(cs_.pad_h), int(cs_.pad_w), int(cs_.stride_h), int(cs_.stride_w),
            int(cs_.dil_h), int(cs_.dil_w), CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
        NSE_CUDNN_CHECK(cudnnSetConvolutionGroupCount(conv_.d, int(cs_.groups)));
        NSE_CUDNN_CHECK(cudnnSetActivationDescriptor(relu_.d, CUDNN_ACTIVATION_RELU,
                                                     CUDNN_NOT_PROPAGATE_NAN, 0.0));
        choose_algorithm(ctx, in[0], out);
        // Fused bias + ReLU where cuDNN takes this algorithm with it.
        fused_ = false;
        if (act_ == Activation::Relu && b_) {
            Scratch ws(ws_bytes_);
            fused_ = cudnnConvolutionBiasActivationForward(ctx.cudnn, &kOne, x_.d, in[0], w_desc_.d,
                                                           w_, conv_.d, algo_, ws.p, ws_bytes_,
                                                           &kZero, y_.d, out, bias_.d, b_, relu_.d,
                                                           y_.d, out) == CUDNN_STATUS_SUCCESS;
            NSE_CUDA_CHECK(cudaStreamSynchronize(ctx.stream));
        }
        mode_ = Mode::Cudnn;
        how_ = std::string("cuDNN ") + algo_name(algo_) +
               (fused_ ? ", fused bias+relu" : std::string(", then bias+") + act_name(act_)) +
               refused_;
        const bool depthwise = cs_.depthwise();
        const bool pointwise = cs_.pointwise() && cs_.groups == 1;
        if (!depthwise && !pointwise) return;
        Scratch ws(ws_bytes_);
        const double t_cudnn = time_ms(ctx, [&] { launch_cudnn(ctx, in[0], out, ws.p); });
        const Mode own = depthwise ? Mode::OwnDepthwise : Mode::CublasPointwise;
        const double t_own = time_ms(ctx, [&] { launch_mode(ctx, own, in[0], out, nullptr); });
        const std::string times = " (" + fixed_ms(t_own) + " ms; cuDNN " + algo_name(algo_) + " " +
                                  fixed_ms(t_cudnn) + " ms)";
        if (t_own < t_cudnn) {
            mode_ = own;
            how_ = (depthwise ? std::string("own depthwise kernel")
                              : std::string("cuBLAS GEMM, then bias+") + act_name(act_)) +
                   times;
        } else {
            how_ += times;
        }
    }

    size_t workspace_bytes() const override { return mode_ == Mode::Cudnn ? ws_bytes_ : 0; }

    void launch(Context& ctx, const std::vector<const float*>& in, float* out,
                void* workspace) override {
        launch_mode(ctx, mode_, in[0], out, workspace);
    }

  private:
    enum class Mode { Cudnn, OwnDepthwise, CublasPointwise };

    void launch_mode(Context& ctx, Mode mode, const float* x, float* y, void* workspace) {
        const int64_t pq = cs_.p() * cs_.q();
        switch (mode) {
            case Mode::Cudnn:
                launch_cudnn(ctx, x, y, workspace);
                return;
            case Mode::OwnDepthwise:
                depthwise_conv2d(cs_, x, w_, b_, act_, y, ctx.stream);
                return;
            case Mode::CublasPointwise:
                // Per image, row-major Y[K, HW] = W[K, C] X[C, HW]; column-major that is
                // Y'(HW x K) = X'(HW x C) W'(C x K).
                NSE_CUBLAS_CHECK(cublasSgemmStridedBatched(
                    ctx.cublas, CUBLAS_OP_N, CUBLAS_OP_N, int(pq), int(cs_.k), int(cs_.c), &kOne, x,
                    int(pq), cs_.c * pq, w_, int(cs_.c), 0, &kZero, y, int(pq), cs_.k * pq,
                    int(cs_.n)));
                bias_activation(y, b_, cs_.n * cs_.k * pq, cs_.k, pq, act_, ctx.stream);
                return;
        }
    }

    // FFT and Winograd trade accuracy for speed; they are kept only where their result on
    // random data stays within kMaxApproxError (relative to the largest output) of implicit GEMM.
    static bool approximate(cudnnConvolutionFwdAlgo_t a) {
        return a == CUDNN_CONVOLUTION_FWD_ALGO_FFT || a == CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING ||
               a == CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD ||
               a == CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED;
    }
    static constexpr double kMaxApproxError = 1e-5;

    // Runs `algo` on the trial input into `y`; false when cuDNN refuses it here.
    bool try_algo(Context& ctx, cudnnConvolutionFwdAlgo_t algo, size_t ws_bytes, const float* x,
                  float* y) {
        Scratch ws(ws_bytes);
        const cudnnStatus_t st =
            cudnnConvolutionForward(ctx.cudnn, &kOne, x_.d, x, w_desc_.d, w_, conv_.d, algo, ws.p,
                                    ws_bytes, &kZero, y_.d, y);
        NSE_CUDA_CHECK(cudaStreamSynchronize(ctx.stream));
        return st == CUDNN_STATUS_SUCCESS;
    }

    // Tries cuDNN's measured algorithms fastest first; keeps the first that runs here with the
    // math mode allowed (FMA only unless TF32 was asked for) and, if approximate, is accurate
    // enough on this layer.
    void choose_algorithm(Context& ctx, const float* x, float* y) {
        const cudnnMathType_t math = ctx.tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH;
        NSE_CUDNN_CHECK(cudnnSetConvolutionMathType(conv_.d, math));
        cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
        int found = 0;
        NSE_CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithm(ctx.cudnn, x_.d, w_desc_.d, conv_.d,
                                                             y_.d, CUDNN_CONVOLUTION_FWD_ALGO_COUNT,
                                                             &found, perf));
        // Trial data for the accuracy check, made on first need: random input, and the output of
        // implicit GEMM (no transform, FMA accumulation) as the reference.
        const size_t nx = size_t(cs_.n * cs_.c * cs_.h * cs_.w);
        const size_t ny = size_t(cs_.n * cs_.k * cs_.p() * cs_.q());
        std::unique_ptr<Scratch> tx, ty;
        std::vector<float> ref, got;
        auto accurate = [&](cudnnConvolutionFwdAlgo_t algo, size_t ws_bytes) {
            if (!tx) {
                std::vector<float> host(nx);
                uint32_t state = 12345;
                for (float& v : host) {
                    state = state * 1664525u + 1013904223u;
                    v = float(state >> 8) / float(1u << 24) * 2.f - 1.f;
                }
                tx = std::make_unique<Scratch>(nx * sizeof(float));
                ty = std::make_unique<Scratch>(ny * sizeof(float));
                NSE_CUDA_CHECK(
                    cudaMemcpy(tx->p, host.data(), nx * sizeof(float), cudaMemcpyHostToDevice));
                NSE_CUDNN_CHECK(cudnnSetConvolutionMathType(conv_.d, math));
                if (!try_algo(ctx, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, 0,
                              static_cast<float*>(tx->p), static_cast<float*>(ty->p)))
                    return false;  // no reference: take no approximate algorithm
                ref.resize(ny);
                NSE_CUDA_CHECK(
                    cudaMemcpy(ref.data(), ty->p, ny * sizeof(float), cudaMemcpyDeviceToHost));
            }
            if (ref.empty()) return false;
            if (!try_algo(ctx, algo, ws_bytes, static_cast<float*>(tx->p),
                          static_cast<float*>(ty->p)))
                return false;
            got.resize(ny);
            NSE_CUDA_CHECK(
                cudaMemcpy(got.data(), ty->p, ny * sizeof(float), cudaMemcpyDeviceToHost));
            double diff = 0, scale = 1e-30;
            for (size_t i = 0; i < ny; ++i) {
                diff = std::max(diff, double(std::fabs(got[i] - ref[i])));
                scale = std::max(scale, double(std::fabs(ref[i])));
            }
            return diff <= kMaxApproxError * scale;
        };
        for (int i = 0; i < found; ++i) {
            const cudnnConvolutionFwdAlgoPerf_t& p = perf[i];
            if (p.status != CUDNN_STATUS_SUCCESS || p.memory > kMaxConvWorkspace) continue;
            if (!ctx.tf32 && p.mathType != CUDNN_FMA_MATH && p.mathType != CUDNN_DEFAULT_MATH)
                continue;
            NSE_CUDNN_CHECK(cudnnSetConvolutionMathType(conv_.d, ctx.tf32 ? p.mathType : math));
            if (!try_algo(ctx, p.algo, p.memory, x, y)) continue;
            if (approximate(p.algo) && !ctx.tf32) {
                const bool ok = accurate(p.algo, p.memory);
                NSE_CUDNN_CHECK(cudnnSetConvolutionMathType(conv_.d, math));
                if (!ok) {
                    refused_ += refused_.empty() ? " (refused as inexact:" : ",";
                    refused_ += std::string(" ") + algo_name(p.algo);
                    continue;
                }
            }
            algo_ = p.algo;
            ws_bytes_ = p.memory;
            if (!refused_.empty()) refused_ += ")";
            return;
        }
        throw Error(ErrorCode::Device,
                    detail::concat("cuDNN has no usable algorithm for convolution ",
                                   shape_str({cs_.n, cs_.c, cs_.h, cs_.w}), " * ",
                                   shape_str({cs_.k, cs_.c / cs_.groups, cs_.r, cs_.s}),
                                   ctx.tf32 ? "" : " without TF32"));
    }

    void launch_cudnn(Context& ctx, const float* x, float* y, void* ws) {
        if (fused_) {
            NSE_CUDNN_CHECK(cudnnConvolutionBiasActivationForward(
                ctx.cudnn, &kOne, x_.d, x, w_desc_.d, w_, conv_.d, algo_, ws, ws_bytes_, &kZero,
                y_.d, y, bias_.d, b_, relu_.d, y_.d, y));
            return;
        }
        NSE_CUDNN_CHECK(cudnnConvolutionForward(ctx.cudnn, &kOne, x_.d, x, w_desc_.d, w_, conv_.d,
                                                algo_, ws, ws_bytes_, &kZero, y_.d, y));
        bias_activation(y, b_, cs_.n * cs_.k * cs_.p() * cs_.q(), cs_.k, cs_.p() * cs_.q(), act_,
                        ctx.stream);
    }

    const Conv2d& layer_;
    const float* w_;
    const float* b_;
    ConvShape cs_;
    Activation act_ = Activation::None;
    TensorDesc x_, y_, bias_;
    FilterDesc w_desc_;
    ConvDesc conv_;
    ActDesc relu_;
    cudnnConvolutionFwdAlgo_t algo_ = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
    size_t ws_bytes_ = 0;
    bool fused_ = false;
    Mode mode_ = Mode::Cudnn;
    std::string refused_;  // approximate algorithms refused for this layer, for how()
};

}  // namespace
}  // namespace cuda

std::unique_ptr<cuda::GpuOp> Conv2d::gpu_op(const Layer& layer,
                                            const std::vector<const float*>& params) {
    return std::make_unique<cuda::ConvOp>(static_cast<const Conv2d&>(layer), params);
}

}  // namespace nse
