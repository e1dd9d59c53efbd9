// One GPU op per graph node, built from the CPU layer (its attributes and device copies of its
// weights) for fixed input shapes. prepare() chooses how to run (cuDNN algorithm found by
// measurement, fused or separate bias + activation, own kernel or cuDNN) using scratch device
// buffers of the right sizes; launch() only enqueues work on the context's stream, so a plan's
// launches can be captured into a CUDA graph.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/cuda_context.h"
#include "layers/layer.h"

namespace nse::cuda {

class GpuOp {
  public:
    virtual ~GpuOp() = default;
    // in/out: device buffers of the op's input and output shapes (contents arbitrary).
    virtual void prepare(Context& ctx, const std::vector<Shape>& in_shapes, const Shape& out_shape,
                         const std::vector<const float*>& in, float* out) {}
    // Device scratch launch() needs (bytes); valid after prepare().
    virtual size_t workspace_bytes() const { return 0; }
    virtual void launch(Context& ctx, const std::vector<const float*>& in, float* out,
                        void* workspace) = 0;
    // How prepare() chose to run this op, for `nsengine profile -d cuda` (e.g. "cuDNN
    // implicit-precomp-gemm, fused bias+relu").
    const std::string& how() const { return how_; }

  protected:
    std::string how_;
};

// params: device copies of layer.params(), in order. Throws Error(Unsupported) for a layer the
// CUDA backend does not know.
std::unique_ptr<GpuOp> make_gpu_op(const Layer& layer, const std::vector<const float*>& params);

}  // namespace nse::cuda
