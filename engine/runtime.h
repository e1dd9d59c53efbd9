// Runtime: executes a contiguous range of a model's nodes on the CPU. The split primitive is
// run(begin, end, live_in): given the tensors live at cut `begin`, it runs nodes [begin, end) and
// returns the tensors live at cut `end`. Running [0, k) then [k, n) gives bit-identical results
// to running [0, n).
//
// Memory is planned once per (begin, end, batch, threads): activations share one arena by
// lifetime, scratch is one buffer; later calls with the same key allocate nothing.
// A Runtime is used by one thread at a time; make one per worker.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <tuple>
#include <vector>

#include "engine/model.h"

namespace nse {

class Runtime {
  public:
    explicit Runtime(std::shared_ptr<const Model> model);
    ~Runtime();

    // live_in: the tensors of model().live_at(begin), in that order. Returns the tensors of
    // model().live_at(end), in that order, as views of runtime memory that stay valid until
    // the next run over the same range. Throws Error(InvalidArgument) on a count or shape
    // mismatch.
    const std::vector<Tensor>& run(int begin, int end, const std::vector<Tensor>& live_in);
    // Whole model on one input; returns the first graph output (runtime memory).
    const Tensor& run(const Tensor& input);

    // Called after each node with its index and seconds taken (for profiling); empty = off.
    void set_node_observer(std::function<void(int node, double seconds)> observer) {
        observer_ = std::move(observer);
    }

    const Model& model() const { return *model_; }
    // Floats held by all plans (activation arenas and scratch), for diagnostics.
    size_t planned_floats() const;

  private:
    struct Plan;
    Plan& plan_for(int begin, int end, int64_t batch);

    std::shared_ptr<const Model> model_;
    std::map<std::tuple<int, int, int64_t, int>, std::unique_ptr<Plan>> plans_;
    std::vector<Tensor> single_input_;
    size_t first_output_ = 0;
    std::function<void(int, double)> observer_;
};

}  // namespace nse
