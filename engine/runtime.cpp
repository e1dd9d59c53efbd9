#include "engine/runtime.h"

#include <algorithm>
#include <chrono>
#include <cstring>

#include "base/error.h"
#include "base/thread_pool.h"
#include "engine/memory_plan.h"

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

// A batch's tensors live at the position where it starts running as one batch, filled image by
// image, and views of one image's rows of the inputs.
struct Runtime::Staging {
    std::vector<Tensor> batched;                  // live_at(split) at the batch
    std::vector<std::shared_ptr<float>> storage;  // their memory
    std::vector<Tensor> image;                    // one image's rows of live_in (views)
    std::vector<int> in_ids;                      // live_at(begin)
    std::vector<Shape> shapes;                    // every tensor's at the batch
};

namespace {
constexpr size_t kAlignFloats = 16;  // 64 bytes
}  // namespace

Runtime::Runtime(std::shared_ptr<const Model> model, std::shared_ptr<ThreadPool> pool)
    : Executor(std::move(model)), pool_(std::move(pool)) {
    NSE_ASSERT(pool_);
}

Runtime::~Runtime() = default;

Runtime::Sizes Runtime::plan_sizes(int begin, int end, const std::vector<Shape>& shapes,
                                   std::vector<size_t>* offsets) const {
    const Model& m = *model_;
    MemoryPlan mem = plan_memory(m, begin, end, shapes, kAlignFloats);
    Sizes sizes;
    sizes.arena_floats = mem.arena_floats;
    for (int i = begin; i < end; ++i) {
        std::vector<Shape> in_shapes;
        for (int in : m.node_inputs(i)) in_shapes.push_back(shapes[in]);
        sizes.workspace_floats =
            std::max(sizes.workspace_floats, m.layer(i).workspace_floats(in_shapes, pool_->size()));
    }
    if (offsets) *offsets = std::move(mem.offset);
    return sizes;
}

size_t Runtime::first_run_bytes(int begin, int end, int64_t batch) const {
    NSE_CHECK(begin >= 0 && begin <= end && end <= model_->size() && batch >= 1,
              ErrorCode::InvalidArgument, "no plan for [", begin, ", ", end, ") at batch ", batch);
    const Sizes sizes = plan_sizes(begin, end, model_->shapes_for_batch(batch));
    return (sizes.arena_floats + sizes.workspace_floats) * sizeof(float);
}

Runtime::Plan& Runtime::plan_for(int begin, int end, int64_t batch) {
    auto key = std::make_tuple(begin, end, batch);
    auto it = plans_.find(key);
    if (it != plans_.end()) return *it->second;

    const Model& m = *model_;
    auto plan = std::make_unique<Plan>();
    plan->in_ids = m.live_at(begin);
    plan->out_ids = m.live_at(end);
    plan->shapes = m.shapes_for_batch(batch);
    plan->tensors.resize(m.tensor_count());

    std::vector<size_t> offset;
    const Sizes sizes = plan_sizes(begin, end, plan->shapes, &offset);
    plan->arena_floats = sizes.arena_floats;
    plan->workspace_floats = sizes.workspace_floats;
    plan->arena = aligned_floats(plan->arena_floats);
    plan->workspace = aligned_floats(plan->workspace_floats);
    for (int i = begin; i < end; ++i) {
        const int id = i + 1;
        plan->tensors[id] = Tensor::view(plan->shapes[id], plan->arena.get() + offset[id]);
        std::vector<const Tensor*> ins;
        for (int in : m.node_inputs(i)) ins.push_back(&plan->tensors[in]);
        plan->node_inputs.push_back(std::move(ins));
    }
    for (int id : plan->in_ids) plan->tensors[id] = Tensor::view(plan->shapes[id], nullptr);
    // Shaped now, so that run() copies into them without allocating.
    for (int id : plan->out_ids) plan->outputs.push_back(Tensor::view(plan->shapes[id], nullptr));
    return *plans_.emplace(key, std::move(plan)).first->second;
}

void Runtime::prepare(int begin, int end, int64_t batch) {
    NSE_CHECK(begin >= 0 && begin <= end && end <= model_->size() && batch >= 1,
              ErrorCode::InvalidArgument, "cannot prepare [", begin, ", ", end, ") at batch ",
              batch);
    const bool fresh = !plans_.count(std::make_tuple(begin, end, batch));
    Plan& plan = plan_for(begin, end, batch);
    if (!fresh) return;
    // A fresh allocation's pages are mapped on first touch, a fault each: take them now.
    if (plan.arena_floats) std::memset(plan.arena.get(), 0, plan.arena_floats * sizeof(float));
    if (plan.workspace_floats)
        std::memset(plan.workspace.get(), 0, plan.workspace_floats * sizeof(float));
}

const std::vector<Tensor>& Runtime::run_by_image(int begin, int split, int end,
                                                 const std::vector<Tensor>& live_in,
                                                 int64_t batch) {
    const Model& m = *model_;
    auto& st = staging_[std::make_tuple(begin, end, batch)];
    if (!st) {
        st = std::make_unique<Staging>();
        st->shapes = m.shapes_for_batch(batch);
        st->in_ids = m.live_at(begin);
        for (int id : m.live_at(split)) {
            st->storage.push_back(aligned_floats(size_t(numel(st->shapes[id]))));
            st->batched.push_back(Tensor::view(st->shapes[id], st->storage.back().get()));
        }
        for (int id : st->in_ids) {
            Shape one = st->shapes[id];
            one[0] = 1;
            st->image.push_back(Tensor::view(one, nullptr));
        }
    }
    check_live_in(begin, st->in_ids, st->shapes, live_in);
    for (int64_t b = 0; b < batch; ++b) {
        for (size_t i = 0; i < live_in.size(); ++i)
            st->image[i].rebind(const_cast<float*>(live_in[i].data()) +
                                b * (live_in[i].numel() / batch));
        const std::vector<Tensor>& out = run(begin, split, st->image);
        for (size_t i = 0; i < out.size(); ++i)
            std::memcpy(st->batched[i].data() + b * out[i].numel(), out[i].data(), out[i].bytes());
    }
    return split == end ? st->batched : run(split, end, st->batched);
}

const std::vector<Tensor>& Runtime::run(int begin, int end, const std::vector<Tensor>& live_in) {
    const Model& m = *model_;
    const int64_t batch = check_range(begin, end, live_in);
    if (batch > 1) {  // (an observer sees each image's nodes, then the batch's)
        const int split = m.batched_from(begin, end);
        if (split > begin) return run_by_image(begin, split, end, live_in, batch);
    }
    Plan& plan = plan_for(begin, end, batch);
    check_live_in(begin, plan.in_ids, plan.shapes, live_in);
    for (size_t i = 0; i < live_in.size(); ++i)
        plan.tensors[plan.in_ids[i]].rebind(const_cast<float*>(live_in[i].data()));
    for (int i = begin; i < end; ++i) {
        if (observer_) {
            auto t0 = std::chrono::steady_clock::now();
            m.layer(i).forward(plan.node_inputs[i - begin], plan.tensors[i + 1],
                               plan.workspace.get(), *pool_);
            observer_(i,
                      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        } else {
            m.layer(i).forward(plan.node_inputs[i - begin], plan.tensors[i + 1],
                               plan.workspace.get(), *pool_);
        }
    }
    for (size_t o = 0; o < plan.out_ids.size(); ++o)
        plan.outputs[o] = plan.tensors[plan.out_ids[o]];
    return plan.outputs;
}

size_t Runtime::planned_floats() const {
    size_t total = 0;
    for (const auto& [key, plan] : plans_) total += plan->arena_floats + plan->workspace_floats;
    for (const auto& [key, st] : staging_)
        for (const Tensor& t : st->batched) total += size_t(t.numel());
    return total;
}

}  // namespace nse
