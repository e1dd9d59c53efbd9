// Runtime: the CPU executor (see executor.h for the contract of run(begin, end, live_in)).
// Running [0, k) then [k, n) gives bit-identical results to running [0, n).
//
// Kernels run on the thread pool the Runtime was given (several runtimes used from one thread
// may share one). Memory is planned once per (begin, end, batch): activations share one arena by
// lifetime, scratch is one buffer; later calls with the same key allocate nothing.
// A batch of N runs image by image up to Model::batched_from() and as one batch from there (see
// there); each image's result equals its run alone, bit for bit.
// A Runtime is used by one thread at a time; make one per worker.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <tuple>
#include <vector>

#include "engine/executor.h"

namespace nse {

class Runtime : public Executor {
  public:
    Runtime(std::shared_ptr<const Model> model, std::shared_ptr<ThreadPool> pool);
    ~Runtime();

    using Executor::run;
    // live_in: the tensors of model().live_at(begin), in that order. Returns the tensors of
    // model().live_at(end), in that order, as views of runtime memory.
    const std::vector<Tensor>& run(int begin, int end, const std::vector<Tensor>& live_in) override;
    std::string description() const override { return "cpu"; }
    void prepare(int begin, int end, int64_t batch) override;
    bool prepared(int begin, int end, int64_t batch) const override {
        return plans_.count(std::make_tuple(begin, end, int64_t(batch))) > 0;
    }
    // The arena and scratch bytes the plan of (begin, end, batch) allocates (whether made yet
    // or not).
    size_t first_run_bytes(int begin, int end, int64_t batch) const override;

    // Floats held by all plans (activation arenas and scratch), for diagnostics.
    size_t planned_floats() const;

  private:
    struct Plan;
    struct Staging;
    struct Sizes {
        size_t arena_floats = 0, workspace_floats = 0;
    };
    // What a plan of [begin, end) needs, for `shapes` (per tensor id, at its batch).
    Sizes plan_sizes(int begin, int end, const std::vector<Shape>& shapes,
                     std::vector<size_t>* offsets = nullptr) const;
    Plan& plan_for(int begin, int end, int64_t batch);
    const std::vector<Tensor>& run_by_image(int begin, int split, int end,
                                            const std::vector<Tensor>& live_in, int64_t batch);

    std::shared_ptr<ThreadPool> pool_;
    std::map<std::tuple<int, int, int64_t>, std::unique_ptr<Plan>> plans_;
    std::map<std::tuple<int, int, int64_t>, std::unique_ptr<Staging>> staging_;
};

}  // namespace nse
