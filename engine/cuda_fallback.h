// The GPU op of a node whose op has no CUDA kernel (its record says kCpuFallback): the node's
// inputs are copied to pinned host memory, the layer's CPU forward runs on the runtime's thread
// pool (as a host function on the stream, so it stays ordered with the GPU work and can be
// captured into a CUDA graph), and the output is copied back. CUDA builds only.
#pragma once

#include <memory>

#include "base/thread_pool.h"
#include "layers/gpu_op.h"
#include "layers/layer.h"

namespace nse::cuda {

// `op_name` is said once per process on stderr: that op's nodes run on the CPU.
std::unique_ptr<GpuOp> make_cpu_fallback(const Layer& layer, const std::string& op_name,
                                         std::shared_ptr<ThreadPool> pool);

}  // namespace nse::cuda
