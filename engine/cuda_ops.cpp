#include "engine/cuda_ops.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>

#include "kernels/cuda/ops.h"
#include "layers/activation.h"
#include "layers/combine.h"
#include "layers/conv2d.h"
#include "layers/linear.h"
#include "layers/pooling.h"

namespace nse::cuda {

namespace {

// RAII wrappers for the cuDNN descriptors an op keeps.
struct TensorDesc {
    cudnnTensorDescriptor_t d = nullptr;
    TensorDesc() { NSE_CUDNN_CHECK(cudnnCreateTensorDescriptor(&d)); }
    ~TensorDesc() { cudnnDestroyTensorDescriptor(d); }
    void set(int64_t n, int64_t c, int64_t h, int64_t w) {
        NSE_CUDNN_CHECK(cudnnSetTensor4dDescriptor(d, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, int(n),
                                                   int(c), int(h), int(w)));
    }
};
struct FilterDesc {
    cudnnFilterDescriptor_t d = nullptr;
    FilterDesc() { NSE_CUDNN_CHECK(cudnnCreateFilterDescriptor(&d)); }
    ~FilterDesc() { cudnnDestroyFilterDescriptor(d); }
};
struct ConvDesc {
    cudnnConvolutionDescriptor_t d = nullptr;
    ConvDesc() { NSE_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&d)); }
    ~ConvDesc() { cudnnDestroyConvolutionDescriptor(d); }
};
struct ActDesc {
    cudnnActivationDescriptor_t d = nullptr;
    ActDesc() { NSE_CUDNN_CHECK(cudnnCreateActivationDescriptor(&d)); }
    ~ActDesc() { cudnnDestroyActivationDescriptor(d); }
};
struct PoolDesc {
    cudnnPoolingDescriptor_t d = nullptr;
    PoolDesc() { NSE_CUDNN_CHECK(cudnnCreatePoolingDescriptor(&d)); }
    ~PoolDesc() { cudnnDestroyPoolingDescriptor(d); }
};

// A device buffer for prepare()-time trials.
struct Scratch {
    void* p = nullptr;
    explicit Scratch(size_t bytes) {
        if (bytes) NSE_CUDA_CHECK(cudaMalloc(&p, bytes));
    }
    ~Scratch() { cudaFree(p); }
};

// Median milliseconds of `fn` enqueued on the stream (after one untimed call).
double time_ms(Context& ctx, const std::function<void()>& fn, int reps = 7) {
    cudaEvent_t a, b;
    NSE_CUDA_CHECK(cudaEventCreate(&a));
    NSE_CUDA_CHECK(cudaEventCreate(&b));
    fn();
    std::vector<float> ms;
    for (int i = 0; i < reps; ++i) {
        NSE_CUDA_CHECK(cudaEventRecord(a, ctx.stream));
        fn();
        NSE_CUDA_CHECK(cudaEventRecord(b, ctx.stream));
        NSE_CUDA_CHECK(cudaEventSynchronize(b));
        float t = 0;
        NSE_CUDA_CHECK(cudaEventElapsedTime(&t, a, b));
        ms.push_back(t);
    }
    cudaEventDestroy(a);
    cudaEventDestroy(b);
    std::nth_element(ms.begin(), ms.begin() + reps / 2, ms.end());
    return ms[reps / 2];
}

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

const char* act_name(Activation a) {
    return a == Activation::Relu ? "relu" : a == Activation::Relu6 ? "relu6" : "none";
}

constexpr float kOne = 1.f, kZero = 0.f;
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

    static std::string fixed_ms(double ms) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.4f", ms);
        return buf;
    }

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

// Fully connected: y[N, O] = x[N, I] * W[O, I]^T with cuBLAS (column-major: y' = W'^T x'),
// then bias + activation. For one row, cuBLAS's GEMV and GEMM are both measured and the faster
// kept (the weights stream once either way; which kernel does it better depends on the shape).
class LinearOp : public GpuOp {
  public:
    LinearOp(const Linear& layer, const std::vector<const float*>& params)
        : layer_(layer), w_(params[0]), b_(params.size() > 1 ? params[1] : nullptr) {}
    void prepare(Context& ctx, const std::vector<Shape>& in_shapes, const Shape& out_shape,
                 const std::vector<const float*>& in, float* out) override {
        rows_ = in_shapes[0][0];
        in_ = in_shapes[0][1];
        out_ = out_shape[1];
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

// The small ops: one hand-written kernel (or a copy) each.
class LambdaOp : public GpuOp {
  public:
    using Fn = std::function<void(Context&, const std::vector<const float*>&, float*)>;
    using Prep = std::function<Fn(const std::vector<Shape>&, const Shape&)>;
    LambdaOp(std::string how, Prep prep) : prep_(std::move(prep)) { how_ = std::move(how); }
    void prepare(Context&, const std::vector<Shape>& in_shapes, const Shape& out_shape,
                 const std::vector<const float*>&, float*) override {
        fn_ = prep_(in_shapes, out_shape);
    }
    void launch(Context& ctx, const std::vector<const float*>& in, float* out, void*) override {
        fn_(ctx, in, out);
    }

  private:
    Prep prep_;
    Fn fn_;
};

}  // namespace

std::unique_ptr<GpuOp> make_gpu_op(const Layer& layer, const std::vector<const float*>& params) {
    using Ins = std::vector<const float*>;
    using Fn = LambdaOp::Fn;
    if (auto* l = dynamic_cast<const Conv2d*>(&layer)) return std::make_unique<ConvOp>(*l, params);
    if (auto* l = dynamic_cast<const Linear*>(&layer))
        return std::make_unique<LinearOp>(*l, params);
    if (auto* l = dynamic_cast<const Pool2d*>(&layer)) return std::make_unique<PoolOp>(*l);
    if (dynamic_cast<const AdaptiveAvgPool2d*>(&layer))
        return std::make_unique<LambdaOp>(
            "own adaptive average pooling kernel",
            [](const std::vector<Shape>& in, const Shape& o) {
                const Shape x = in[0];
                return Fn([x, o](Context& ctx, const Ins& i, float* y) {
                    adaptive_avg_pool2d(x[0], x[1], x[2], x[3], o[2], o[3], i[0], y, ctx.stream);
                });
            });
    if (auto* l = dynamic_cast<const ActivationLayer*>(&layer)) {
        const Activation act = l->activation();
        return std::make_unique<LambdaOp>(
            std::string("own ") + act_name(act) + " kernel",
            [act](const std::vector<Shape>& in, const Shape&) {
                const int64_t n = numel(in[0]);
                return Fn([n, act](Context& ctx, const Ins& i, float* y) {
                    activation(i[0], y, n, act, ctx.stream);
                });
            });
    }
    if (auto* l = dynamic_cast<const Softmax*>(&layer)) {
        const int64_t dim = l->dim();
        return std::make_unique<LambdaOp>(
            "own softmax kernel", [dim](const std::vector<Shape>& in, const Shape&) {
                const Shape& x = in[0];
                const int64_t axis = normalize_axis(dim, x.size(), "softmax");
                int64_t outer = 1, inner = 1;
                for (int64_t d = 0; d < axis; ++d) outer *= x[d];
                for (size_t d = axis + 1; d < x.size(); ++d) inner *= x[d];
                const int64_t len = x[axis];
                return Fn([=](Context& ctx, const Ins& i, float* y) {
                    softmax(i[0], y, outer, len, inner, ctx.stream);
                });
            });
    }
    if (auto* l = dynamic_cast<const Add*>(&layer)) {
        const Activation act = l->activation();
        return std::make_unique<LambdaOp>(
            std::string("own add+") + act_name(act) + " kernel",
            [act](const std::vector<Shape>& in, const Shape&) {
                const int64_t n = numel(in[0]);
                return Fn([n, act](Context& ctx, const Ins& i, float* y) {
                    add(i[0], i[1], y, n, act, ctx.stream);
                });
            });
    }
    if (auto* l = dynamic_cast<const Concat*>(&layer)) {
        const int64_t dim = l->dim();
        return std::make_unique<LambdaOp>(
            "strided copies (cudaMemcpy2DAsync)",
            [dim](const std::vector<Shape>& in, const Shape& y) {
                const int64_t axis = normalize_axis(dim, y.size(), "concat");
                int64_t outer = 1, after = 1;
                for (int64_t d = 0; d < axis; ++d) outer *= y[d];
                for (size_t d = axis + 1; d < y.size(); ++d) after *= y[d];
                std::vector<size_t> width;  // bytes per outer row of each input
                for (const Shape& s : in) width.push_back(size_t(s[axis] * after) * sizeof(float));
                const size_t pitch = size_t(y[axis] * after) * sizeof(float);
                return Fn([=](Context& ctx, const Ins& i, float* out) {
                    char* dst = reinterpret_cast<char*>(out);
                    for (size_t k = 0; k < i.size(); ++k) {
                        if (width[k] && outer)
                            NSE_CUDA_CHECK(cudaMemcpy2DAsync(dst, pitch, i[k], width[k], width[k],
                                                             size_t(outer),
                                                             cudaMemcpyDeviceToDevice, ctx.stream));
                        dst += width[k];
                    }
                });
            });
    }
    if (dynamic_cast<const Flatten*>(&layer))
        return std::make_unique<LambdaOp>(
            "copy (cudaMemcpyAsync)", [](const std::vector<Shape>& in, const Shape&) {
                const size_t bytes = size_t(numel(in[0])) * sizeof(float);
                return Fn([bytes](Context& ctx, const Ins& i, float* y) {
                    if (bytes)
                        NSE_CUDA_CHECK(
                            cudaMemcpyAsync(y, i[0], bytes, cudaMemcpyDeviceToDevice, ctx.stream));
                });
            });
    throw Error(
        ErrorCode::Unsupported,
        detail::concat("the CUDA backend has no kernel for layer type ", typeid(layer).name()));
}

}  // namespace nse::cuda
