// The one list of graph ops: each op's record (layers/op.h) in one line.
#include <algorithm>

#include "layers/activation.h"
#include "layers/attention.h"
#include "layers/binary.h"
#include "layers/combine.h"
#include "layers/conv2d.h"
#include "layers/linear.h"
#include "layers/norm.h"
#include "layers/op.h"
#include "layers/pooling.h"
#include "layers/shape_ops.h"
#include "layers/unary.h"
#include "layers/windows.h"

namespace nse {

namespace {

// An op's declared CUDA kernel: its factory where this binary has the CUDA backend (the
// factories are compiled only there), the declaration alone where it does not.
#ifdef NSE_HAVE_CUDA
#define NSE_GPU_KERNEL(factory) \
    GpuSupport { true, factory }
#else
#define NSE_GPU_KERNEL(factory) \
    GpuSupport { true, nullptr }
#endif

template <typename L>
std::unique_ptr<Layer> make() {
    return std::make_unique<L>();
}
std::unique_ptr<Layer> make_max_pool() { return std::make_unique<Pool2d>(true); }
std::unique_ptr<Layer> make_avg_pool() { return std::make_unique<Pool2d>(false); }
std::unique_ptr<Layer> make_window_partition() { return std::make_unique<Windows>(false); }
std::unique_ptr<Layer> make_window_reverse() { return std::make_unique<Windows>(true); }
std::unique_ptr<Layer> make_relu() { return std::make_unique<ActivationLayer>(Activation::Relu); }
std::unique_ptr<Layer> make_relu6() { return std::make_unique<ActivationLayer>(Activation::Relu6); }

// clang-format off
const std::vector<OpRecord>& registry() {
    static const std::vector<OpRecord> ops = {
        {"conv2d", make<Conv2d>,
         {&Conv2d::kGemm, &Conv2d::kPointwise, &Conv2d::kWinograd, &Conv2d::kDirect,
          &Conv2d::kDepthwise, &Linear::kKind},
         Conv2d::sweep, NSE_GPU_KERNEL(Conv2d::gpu_op)},
        {"linear", make<Linear>, {&Linear::kKind, &Linear::kTokens}, Linear::sweep,
         NSE_GPU_KERNEL(Linear::gpu_op)},
        {"max_pool2d", make_max_pool, {&Pool2d::kMaxKind}, Pool2d::sweep_max,
         NSE_GPU_KERNEL(Pool2d::gpu_op)},
        {"avg_pool2d", make_avg_pool, {&Pool2d::kAvgKind}, Pool2d::sweep_avg,
         NSE_GPU_KERNEL(Pool2d::gpu_op)},
        {"adaptive_avg_pool2d", make<AdaptiveAvgPool2d>, {&AdaptiveAvgPool2d::kKind},
         AdaptiveAvgPool2d::sweep, NSE_GPU_KERNEL(AdaptiveAvgPool2d::gpu_op)},
        {"add", make<Add>, {&Add::kKind}, Add::sweep, NSE_GPU_KERNEL(Add::gpu_op)},
        {"concat", make<Concat>, {&Concat::kKind}, Concat::sweep, NSE_GPU_KERNEL(Concat::gpu_op)},
        {"relu", make_relu, {&ActivationLayer::kKind}, ActivationLayer::sweep_relu,
         NSE_GPU_KERNEL(ActivationLayer::gpu_op)},
        {"relu6", make_relu6, {&ActivationLayer::kKind}, ActivationLayer::sweep_relu6,
         NSE_GPU_KERNEL(ActivationLayer::gpu_op)},
        {"sigmoid", Unary::make<UnaryOp::Sigmoid>, {&Unary::kSigmoid},
         Unary::sweep<UnaryOp::Sigmoid>, kCpuFallback},
        {"silu", Unary::make<UnaryOp::Silu>, {&Unary::kSilu}, Unary::sweep<UnaryOp::Silu>,
         kCpuFallback},
        {"hardswish", Unary::make<UnaryOp::Hardswish>, {&Unary::kHardswish},
         Unary::sweep<UnaryOp::Hardswish>, kCpuFallback},
        {"hardsigmoid", Unary::make<UnaryOp::Hardsigmoid>, {&Unary::kHardsigmoid},
         Unary::sweep<UnaryOp::Hardsigmoid>, kCpuFallback},
        {"gelu", Unary::make<UnaryOp::Gelu>, {&Unary::kGelu}, Unary::sweep<UnaryOp::Gelu>,
         kCpuFallback},
        {"tanh", Unary::make<UnaryOp::Tanh>, {&Unary::kTanh}, Unary::sweep<UnaryOp::Tanh>,
         kCpuFallback},
        {"batch_norm", make<BatchNorm>, {&BatchNorm::kKind}, BatchNorm::sweep, kCpuFallback},
        {"layer_norm", make<LayerNorm>, {&LayerNorm::kKind}, LayerNorm::sweep, kCpuFallback},
        {"mul", Binary::make<BinaryOp::Mul>, {&Binary::kKind}, Binary::sweep_mul, kCpuFallback},
        {"sub", Binary::make<BinaryOp::Sub>, {&Binary::kKind}, Binary::sweep_sub, kCpuFallback},
        {"div", Binary::make<BinaryOp::Div>, {&Binary::kKind}, Binary::sweep_div, kCpuFallback},
        {"reshape", make<Reshape>, {&Reshape::kKind}, Reshape::sweep, kCpuFallback},
        {"permute", make<Permute>, {&Permute::kKind}, Permute::sweep, kCpuFallback},
        {"slice", make<Slice>, {&Slice::kKind}, Slice::sweep, kCpuFallback},
        {"softmax", make<Softmax>, {&Softmax::kKind}, Softmax::sweep,
         NSE_GPU_KERNEL(Softmax::gpu_op)},
        {"attention", make<Attention>, {&Attention::kKind}, Attention::sweep, kCpuFallback},
        {"window_partition", make_window_partition, {&Windows::kKind}, Windows::sweep_partition,
         kCpuFallback},
        {"window_reverse", make_window_reverse, {&Windows::kKind}, Windows::sweep_reverse,
         kCpuFallback},
        {"flatten", make<Flatten>, {&Flatten::kKind}, Flatten::sweep,
         NSE_GPU_KERNEL(Flatten::gpu_op)},
    };
    return ops;
}
// clang-format on

}  // namespace

const std::vector<OpRecord>& op_records() { return registry(); }

const OpRecord* find_op(const std::string& name) {
    for (const OpRecord& r : registry())
        if (r.name == name) return &r;
    return nullptr;
}

std::unique_ptr<Layer> make_layer(const std::string& op) {
    const OpRecord* r = find_op(op);
    return r ? r->make() : nullptr;
}

std::vector<std::string> known_ops() {
    std::vector<std::string> names;
    for (const OpRecord& r : registry()) names.push_back(r.name);
    return names;
}

const std::vector<const CostKind*>& cost_kind_list() {
    static const std::vector<const CostKind*> kinds = [] {
        std::vector<const CostKind*> out;
        for (const OpRecord& r : registry())
            for (const CostKind* k : r.kinds)
                if (std::find(out.begin(), out.end(), k) == out.end()) out.push_back(k);
        return out;
    }();
    return kinds;
}

const CostKind* find_cost_kind(const std::string& name) {
    for (const CostKind* k : cost_kind_list())
        if (k->name == name) return k;
    return nullptr;
}

}  // namespace nse
