#include "engine/runtime.h"

#include <algorithm>
#include <chrono>

#include "base/error.h"
#include "base/thread_pool.h"

namespace nse {

struct Runtime::Plan {
    std::vector<int> in_ids, out_ids;
    std::vector<Shape> shapes;                            // per tensor id
    std::vector<Tensor> tensors;                          // per tensor id
    std::vector<std::vector<const Tensor*>> node_inputs;  // per node in [begin, end)
    std::shared_ptr<float> arena, workspace;
    size_t arena_floats = 0, workspace_floats = 0;
    std::vector<Tensor> outputs;
};

namespace {

constexpr size_t kAlignFloats = 16;  // 64 bytes

size_t round_up(size_t n) { return (n + kAlignFloats - 1) / kAlignFloats * kAlignFloats; }

// Assigns each produced tensor a slot of the arena; a slot is reused once every reader of its
// tensor has run. Returns the offset of every produced tensor and the arena size.
struct SlotAllocator {
    std::vector<size_t> capacity;
    std::vector<bool> busy;

    int take(size_t need) {
        int best = -1;
        for (int s = 0; s < static_cast<int>(capacity.size()); ++s) {
            if (busy[s]) continue;
            const bool fits = capacity[s] >= need;
            if (best < 0) {
                best = s;
                continue;
            }
            const bool best_fits = capacity[best] >= need;
            if (fits && (!best_fits || capacity[s] < capacity[best])) best = s;
            if (!fits && !best_fits && capacity[s] > capacity[best]) best = s;
        }
        if (best < 0) {
            capacity.push_back(0);
            busy.push_back(false);
            best = static_cast<int>(capacity.size()) - 1;
        }
        capacity[best] = std::max(capacity[best], need);
        busy[best] = true;
        return best;
    }
};

}  // namespace

Runtime::Runtime(std::shared_ptr<const Model> model) : model_(std::move(model)) {
    // live_at(size()) lists the outputs by ascending id; find the graph's first output there.
    const std::vector<int> ids = model_->live_at(model_->size());
    first_output_ = std::find(ids.begin(), ids.end(), model_->output_ids()[0]) - ids.begin();
}

Runtime::~Runtime() = default;

Runtime::Plan& Runtime::plan_for(int begin, int end, int64_t batch) {
    const int threads = num_threads();
    auto key = std::make_tuple(begin, end, batch, threads);
    auto it = plans_.find(key);
    if (it != plans_.end()) return *it->second;

    const Model& m = *model_;
    auto plan = std::make_unique<Plan>();
    plan->in_ids = m.live_at(begin);
    plan->out_ids = m.live_at(end);
    plan->shapes = m.shapes_for_batch(batch);
    plan->tensors.resize(m.tensor_count());

    SlotAllocator slots;
    std::vector<int> slot_of(m.tensor_count(), -1);
    std::vector<bool> keep(m.tensor_count(), false);
    for (int id : plan->out_ids) keep[id] = true;
    for (int i = begin; i < end; ++i) {
        const int id = i + 1;
        slot_of[id] = slots.take(round_up(static_cast<size_t>(numel(plan->shapes[id]))));
        // Free inputs whose last reader is this node (never before this node's output is taken).
        for (int in : m.node_inputs(i))
            if (slot_of[in] >= 0 && !keep[in] && m.last_use(in) == i)
                slots.busy[slot_of[in]] = false;
        if (!keep[id] && m.last_use(id) <= i) slots.busy[slot_of[id]] = false;  // dead output
        std::vector<Shape> in_shapes;
        for (int in : m.node_inputs(i)) in_shapes.push_back(plan->shapes[in]);
        plan->workspace_floats =
            std::max(plan->workspace_floats, m.layer(i).workspace_floats(in_shapes, threads));
    }
    std::vector<size_t> offset(slots.capacity.size());
    for (size_t s = 0; s < slots.capacity.size(); ++s) {
        offset[s] = plan->arena_floats;
        plan->arena_floats += slots.capacity[s];
    }
    plan->arena = aligned_floats(plan->arena_floats);
    plan->workspace = aligned_floats(plan->workspace_floats);
    for (int i = begin; i < end; ++i) {
        const int id = i + 1;
        plan->tensors[id] = Tensor::view(plan->shapes[id], plan->arena.get() + offset[slot_of[id]]);
        std::vector<const Tensor*> ins;
        for (int in : m.node_inputs(i)) ins.push_back(&plan->tensors[in]);
        plan->node_inputs.push_back(std::move(ins));
    }
    for (int id : plan->in_ids) plan->tensors[id] = Tensor::view(plan->shapes[id], nullptr);
    plan->outputs.resize(plan->out_ids.size());
    return *plans_.emplace(key, std::move(plan)).first->second;
}

const std::vector<Tensor>& Runtime::run(int begin, int end, const std::vector<Tensor>& live_in) {
    const Model& m = *model_;
    NSE_CHECK(begin >= 0 && begin <= end && end <= m.size(), ErrorCode::InvalidArgument,
              "node range [", begin, ", ", end, ") is not within [0, ", m.size(), "]");
    NSE_CHECK(!live_in.empty() && !live_in[0].shape().empty(), ErrorCode::InvalidArgument,
              "no input tensors given for cut ", begin);
    Plan& plan = plan_for(begin, end, live_in[0].dim(0));
    NSE_CHECK(live_in.size() == plan.in_ids.size(), ErrorCode::InvalidArgument, "cut ", begin,
              " has ", plan.in_ids.size(), " live tensor(s), got ", live_in.size());
    for (size_t i = 0; i < live_in.size(); ++i) {
        const int id = plan.in_ids[i];
        NSE_CHECK(live_in[i].shape() == plan.shapes[id], ErrorCode::InvalidArgument, "tensor '",
                  m.tensor_name(id), "' at cut ", begin, " must have shape ",
                  shape_str(plan.shapes[id]), ", got ", shape_str(live_in[i].shape()));
        plan.tensors[id].rebind(const_cast<float*>(live_in[i].data()));
    }
    for (int i = begin; i < end; ++i) {
        if (observer_) {
            auto t0 = std::chrono::steady_clock::now();
            m.layer(i).forward(plan.node_inputs[i - begin], plan.tensors[i + 1],
                               plan.workspace.get());
            observer_(i,
                      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        } else {
            m.layer(i).forward(plan.node_inputs[i - begin], plan.tensors[i + 1],
                               plan.workspace.get());
        }
    }
    for (size_t o = 0; o < plan.out_ids.size(); ++o)
        plan.outputs[o] = plan.tensors[plan.out_ids[o]];
    return plan.outputs;
}

const Tensor& Runtime::run(const Tensor& input) {
    single_input_.resize(1);
    if (single_input_[0].shape() != input.shape())
        single_input_[0] = Tensor::view(input.shape(), nullptr);
    single_input_[0].rebind(const_cast<float*>(input.data()));
    return run(0, model_->size(), single_input_)[first_output_];
}

size_t Runtime::planned_floats() const {
    size_t total = 0;
    for (const auto& [key, plan] : plans_) total += plan->arena_floats + plan->workspace_floats;
    return total;
}

}  // namespace nse
