// The CUDA executor (built with NSE_WITH_CUDA only; reach it through make_executor).
//
// Weights are uploaded once per model and shared by every CUDA runtime of that model in the
// process. Per (begin, end, batch): activations in one device arena planned by lifetime (as on
// the CPU), a device buffer for the range's inputs, pinned host buffers for the transfers in and
// out, one cuDNN/cuBLAS workspace, and per node a GpuOp whose algorithm was chosen by
// measurement. Everything runs on the runtime's one stream; from the second run of a plan on,
// the whole range (copy in, every node, copy out) is replayed as one CUDA graph when capture
// works, else launched node by node.
#pragma once

#include <memory>
#include <string>

#include "engine/executor.h"

namespace nse {

// Throws Error(Unsupported) when no CUDA device can be used, with the runtime's reason.
void check_cuda_device();

// `pool` runs the nodes of ops without a GPU kernel (cuda_fallback.h).
std::unique_ptr<Executor> make_cuda_runtime(std::shared_ptr<const Model> model,
                                            const DeviceOptions& options,
                                            std::shared_ptr<ThreadPool> pool);

}  // namespace nse
