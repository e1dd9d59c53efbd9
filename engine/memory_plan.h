// Activation memory planning shared by the CPU and CUDA runtimes: every tensor produced by nodes
// [begin, end) gets an offset into one arena; a region is reused once every reader of its tensor
// has run. Tensors live at `end` (the range's outputs) are kept to the end.
#pragma once

#include <cstddef>
#include <vector>

#include "engine/model.h"

namespace nse {

struct MemoryPlan {
    static constexpr size_t kNone = static_cast<size_t>(-1);
    std::vector<size_t> offset;  // per tensor id, in floats; kNone when not produced in range
    size_t arena_floats = 0;
};

// shapes: per tensor id, as Model::shapes_for_batch gives them. Offsets are multiples of
// align_floats.
MemoryPlan plan_memory(const Model& model, int begin, int end, const std::vector<Shape>& shapes,
                       size_t align_floats);

}  // namespace nse
