#include "engine/memory_plan.h"

#include <algorithm>

namespace nse {

namespace {

// Slots of the arena: each grows to the largest tensor it holds. A free slot that fits is
// preferred (the smallest such); otherwise the largest free one grows.
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

MemoryPlan plan_memory(const Model& m, int begin, int end, const std::vector<Shape>& shapes,
                       size_t align) {
    auto round_up = [align](size_t n) { return (n + align - 1) / align * align; };
    SlotAllocator slots;
    std::vector<int> slot_of(m.tensor_count(), -1);
    std::vector<bool> keep(m.tensor_count(), false);
    for (int id : m.live_at(end)) keep[id] = true;
    for (int i = begin; i < end; ++i) {
        const int id = i + 1;
        slot_of[id] = slots.take(round_up(static_cast<size_t>(numel(shapes[id]))));
        // Free inputs whose last reader is this node (never before this node's output is taken).
        for (int in : m.node_inputs(i))
            if (slot_of[in] >= 0 && !keep[in] && m.last_use(in) == i)
                slots.busy[slot_of[in]] = false;
        if (!keep[id] && m.last_use(id) <= i) slots.busy[slot_of[id]] = false;  // dead output
    }
    MemoryPlan plan;
    std::vector<size_t> slot_offset(slots.capacity.size());
    for (size_t s = 0; s < slots.capacity.size(); ++s) {
        slot_offset[s] = plan.arena_floats;
        plan.arena_floats += slots.capacity[s];
    }
    plan.offset.assign(m.tensor_count(), MemoryPlan::kNone);
    for (int i = begin; i < end; ++i) plan.offset[i + 1] = slot_offset[slot_of[i + 1]];
    return plan;
}

}  // namespace nse
