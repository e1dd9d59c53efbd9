// The op record: everything nsengine knows of a graph op, in one place. Its layer class
// (attributes, shapes, FLOPs, CPU forward, cost features) is made by `make`; `kinds` are the cost
// kinds its nodes can run as; `sweep` generates the deployment phase's synthetic instances of it;
// `gpu` is its CUDA implementation or the declaration that it has none (a CUDA runtime then runs
// its nodes on the CPU and says so). layers/registry.cpp lists every record; docs/adding-an-op.md
// says how to add one.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "layers/cost.h"
#include "layers/layer.h"
#include "layers/sweep.h"

namespace nse {

namespace cuda {
class GpuOp;
}

// params: device copies of layer.params(), in order. A factory may return null for a node its
// kernel does not cover (a broadcasting add): the CUDA runtime runs that node on the CPU.
using GpuOpFactory = std::unique_ptr<cuda::GpuOp> (*)(const Layer& layer,
                                                      const std::vector<const float*>& params);

struct GpuSupport {
    bool kernel = false;          // declared: the op has a CUDA implementation
    GpuOpFactory make = nullptr;  // it, where this binary has the CUDA backend
};
// The op has no CUDA kernel: its nodes run on the CPU inside a CUDA runtime.
inline constexpr GpuSupport kCpuFallback{false, nullptr};

struct OpRecord {
    std::string name;  // the graph's op name
    std::unique_ptr<Layer> (*make)() = nullptr;
    std::vector<const CostKind*> kinds;
    SweepFn sweep = nullptr;
    GpuSupport gpu;
};

// Every op, in registration order.
const std::vector<OpRecord>& op_records();
// The record of a graph op name, or null.
const OpRecord* find_op(const std::string& name);
// Creates the layer for a graph op name, or returns null for an unknown op.
std::unique_ptr<Layer> make_layer(const std::string& op);
// Every op name, in registration order.
std::vector<std::string> known_ops();

// Every cost kind of every op, each once, in registration order (the profile's kinds).
const std::vector<const CostKind*>& cost_kind_list();
// The kind of this name, or null.
const CostKind* find_cost_kind(const std::string& name);

}  // namespace nse
