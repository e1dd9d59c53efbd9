// Executor: runs a contiguous range of a model's nodes on one device. The CPU Runtime and the
// CUDA runtime implement it; callers (CLI, cloud workers, the edge) pick one with make_executor.
//
// The split primitive is run(begin, end, live_in): given the tensors live at cut `begin` (host
// memory), it runs nodes [begin, end) and returns the tensors live at cut `end` (host memory,
// valid until the next run over the same range). An executor is used by one thread at a time.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/thread_pool.h"
#include "engine/model.h"

namespace nse {

enum class Device { Cpu, Cuda };

struct DeviceOptions {
    Device device = Device::Cpu;
    bool tf32 = false;        // CUDA: allow TF32 tensor cores in convolutions and GEMMs
    bool cuda_graphs = true;  // CUDA: replay each (range, batch) as one CUDA graph
};

// "cpu" or "cuda"; anything else is Error(InvalidArgument).
Device parse_device(const std::string& name);
const char* device_name(Device device);
// True when this binary was built with the CUDA backend (NSE_WITH_CUDA).
bool cuda_backend_built();
// Throws Error(Unsupported) with the reason when `options` asks for a device this binary or
// machine cannot use (CUDA not built in, no GPU, driver too old). Cheap; call before long work.
void check_device_available(const DeviceOptions& options);

class Executor {
  public:
    virtual ~Executor() = default;

    // Throws Error(InvalidArgument) on a count or shape mismatch.
    virtual const std::vector<Tensor>& run(int begin, int end,
                                           const std::vector<Tensor>& live_in) = 0;
    // Whole model on one input; returns the first graph output.
    const Tensor& run(const Tensor& input);
    // Makes ready what run(begin, end, ...) at this batch needs (its memory planned, allocated
    // and touched), so its first run costs what later ones do. Optional; a no-op where a backend
    // has nothing to prepare.
    virtual void prepare(int begin, int end, int64_t batch) {}
    // Whether run(begin, end, ...) at this batch has its memory (prepare() or an earlier run
    // made it), and the bytes of host memory its first run maps where not: what that first run
    // pays in page faults (the edge prices a cut it has not run yet by it). A backend that does
    // not say answers true and 0.
    virtual bool prepared(int begin, int end, int64_t batch) const { return true; }
    virtual size_t first_run_bytes(int begin, int end, int64_t batch) const { return 0; }

    // Called after each node with its index and seconds taken (for profiling); empty = off.
    // On a GPU each node is then timed to its completion (no graph replay while it is set).
    void set_node_observer(std::function<void(int node, double seconds)> observer) {
        observer_ = std::move(observer);
    }

    const Model& model() const { return *model_; }
    // "cpu" or "cuda:0 (NVIDIA H100 80GB HBM3)".
    virtual std::string description() const = 0;
    // How each node of the whole model runs at this batch where the backend chooses by
    // measurement (CUDA: cuDNN algorithm, fused epilogue, own kernel); empty on the CPU.
    virtual std::vector<std::string> node_choices(int64_t batch) { return {}; }
    // Host memory that run(begin, end, ...) reads its inputs from without copying them first
    // (CUDA: the pinned staging buffers the transfer to the GPU starts from); pass these views
    // as live_in to save a copy. Empty where inputs are read in place (CPU).
    virtual std::vector<Tensor> input_buffers(int begin, int end, int64_t batch) { return {}; }

  protected:
    explicit Executor(std::shared_ptr<const Model> model);
    // For run(): throws Error(InvalidArgument) unless [begin, end) is a range of the model and
    // live_in is not empty; returns the batch (live_in[0]'s first dimension).
    int64_t check_range(int begin, int end, const std::vector<Tensor>& live_in) const;
    // For run(): throws Error(InvalidArgument) unless live_in are tensors `ids` (the tensors live
    // at cut `begin`) with `shapes` (per tensor id).
    void check_live_in(int begin, const std::vector<int>& ids, const std::vector<Shape>& shapes,
                       const std::vector<Tensor>& live_in) const;

    std::shared_ptr<const Model> model_;
    std::function<void(int, double)> observer_;

  private:
    std::vector<Tensor> single_input_;
    size_t first_output_ = 0;
};

// The executor for `options.device`, its CPU kernels (on a GPU: the nodes of ops without a GPU
// kernel) on `pool`; throws as check_device_available does.
std::unique_ptr<Executor> make_executor(std::shared_ptr<const Model> model,
                                        const DeviceOptions& options,
                                        std::shared_ptr<ThreadPool> pool);

}  // namespace nse
