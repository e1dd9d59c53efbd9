// The layer interface: one class per graph op (its record, with the sweep and GPU sides, is in
// layers/op.h). A layer is built from the graph node's attributes and weight tensors, reports its
// output shape, FLOPs and cost-model features, and runs forward on preallocated memory on the
// thread pool it is given. Layers are immutable after load(), so one model can serve several
// runtimes at once.
#pragma once

#include <array>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/tensor.h"
#include "kernels/shapes.h"
#include "layers/cost.h"

namespace nse {

class ThreadPool;

class Layer {
  public:
    virtual ~Layer() = default;

    // Reads attributes and keeps the weights (views, no copy); throws Error(InvalidModel).
    virtual void load(const nlohmann::json& attrs, std::vector<Tensor> params) = 0;
    // Number of inputs; -1 means one or more.
    virtual int arity() const { return 1; }
    // Output shape for these input shapes (arity already checked); throws Error(InvalidModel)
    // when the inputs or the weights do not fit.
    virtual Shape output_shape(const std::vector<Shape>& in) const = 0;
    // Floating-point operations for these input shapes; a multiply-add counts as two.
    virtual double flops(const std::vector<Shape>& in) const { return 0.0; }
    // Called once after load with the node's input shapes at batch 1 (a model's spatial sizes
    // are fixed): a layer may transform its weights for the kernel those shapes will use.
    virtual void prepare(const std::vector<Shape>& in) {}
    // Scratch floats forward() needs for these input shapes on `threads` threads.
    virtual size_t workspace_floats(const std::vector<Shape>& in, int threads) const { return 0; }
    // out = op(in) on `pool`'s threads; out is preallocated with output_shape() and `workspace`
    // holds workspace_floats(in, pool.size()) floats. Allocates nothing.
    virtual void forward(const std::vector<const Tensor*>& in, Tensor& out, float* workspace,
                         ThreadPool& pool) const = 0;

    // The cost kind of the kernel that runs this node for these input shapes (one of its op
    // record's kinds) and its features (layers/cost.h), as prepare() left the layer.
    virtual NodeCost cost(const std::vector<Shape>& in) const = 0;
    // MB of weights the kernel reads per inference at these shapes (Winograd layers read their
    // transformed filters, 4x or 1.8x the 3x3 ones): by default the parameters.
    virtual double weight_read_mb(const std::vector<Shape>& in) const;

    size_t param_bytes() const;
    // The weights as loaded (for backends that copy them elsewhere, such as a GPU).
    const std::vector<Tensor>& params() const { return params_; }

  protected:
    std::vector<Tensor> params_;
};

// Attribute readers used by layers; each throws Error(InvalidModel) naming the attribute.
int64_t attr_int(const nlohmann::json& attrs, const char* key, int64_t fallback);
bool attr_bool(const nlohmann::json& attrs, const char* key, bool fallback);
double attr_float(const nlohmann::json& attrs, const char* key, double fallback);
// A required list of integers (at most 8: shapes, permutations).
std::vector<int64_t> attr_ints(const nlohmann::json& attrs, const char* key);
// An int or a two-element list, as PyTorch accepts for kernel sizes, strides and padding.
std::array<int64_t, 2> attr_pair(const nlohmann::json& attrs, const char* key,
                                 std::array<int64_t, 2> fallback);
// "relu", "relu6" or absent/"none".
Activation attr_activation(const nlohmann::json& attrs);
// Resolves a possibly negative axis against a rank.
int64_t normalize_axis(int64_t axis, size_t rank, const char* what);
// Checks that `params` has `count` tensors.
void expect_params(const std::vector<Tensor>& params, size_t count, const char* op);

}  // namespace nse
