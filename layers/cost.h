// What the latency models know of a node, declared by its layer: the kernel kind that runs it
// (a CostKind: its regression features' names and how it touches memory) and the values of those
// features for the node's input shapes. Units are MFLOP and MB, so a fitted coefficient is ms per
// MFLOP or per MB. The deployment lab (lab/) fits one regression per kind; partition/ predicts.
#pragma once

#include <string>
#include <vector>

#include "base/tensor.h"

namespace nse {

// A layer's weights up to this size stay in the last-level cache from one inference to the next
// (a network with larger layers is large altogether: its weights stream from memory every
// time); the deployment phase measures larger layers with cold caches and their bytes get a
// coefficient of their own.
constexpr double kCachedWeightsMb = 16.0;
// An output larger than both cores' L2 caches is written, inside a network, to a buffer the
// memory plan last used long before: the deployment phase measures such layers after a flush too.
constexpr double kFlushedOutputMb = 4.0 * 1.048576;  // 4 MiB
// An input from this size on was written by several threads (the layer before had work enough
// to split): pooling, depthwise and element-wise layers, which split it their own way, find about
// half of it in another core's cache, and the deployment phase measures them so.
constexpr double kSplitInputMb = 0.25 * 1.048576;  // 256 KiB

// One kernel kind of the latency models (a fit per kind and device).
struct CostKind {
    std::string name;                   // "conv", "winograd", "max_pool", ... (profile JSON keys)
    std::vector<std::string> features;  // regression inputs, first the constant "1"
    // Only moves data (pooling, element-wise, concat): its time is its reads and writes, with no
    // arithmetic to hide a slower one behind.
    bool moves_data = false;
    // Reads its input in blocks of its own (GEMM tiles, rows of the map) rather than by planes or
    // flat ranges, so where the layer before left each share matters little: the deployment phase
    // times it with its input written as the threads' shares.
    bool blocked_reads = false;
    // Whether this CPU has the kernel of this kind (null: every CPU). A kind a CPU lacks is never
    // chosen there and the sweep has no instances of it.
    bool (*available)() = nullptr;

    bool runs_here() const { return !available || available(); }
};

// The features of one node for the kind that runs it.
struct NodeCost {
    const CostKind* kind = nullptr;
    std::vector<double> x;  // in kind->features order, x[0] = 1
    // Whether the kernel splits this node over its thread pool when the pool has several threads
    // (mirroring the kernels' own thresholds): a node run on the calling thread after one run on
    // the pool, or the reverse, reads data that crosses between cores' caches.
    bool parallel = false;
};

// MB of a tensor of this shape (fp32).
inline double shape_mb(const Shape& s) { return double(numel(s)) * sizeof(float) / 1e6; }
// MB of all of a node's inputs.
double inputs_mb(const std::vector<Shape>& in);

// The features of kinds that only move data or do a few operations per value (element-wise
// ops, concat, softmax, flatten): {"1", "in_mb", "out_mb", "in_mb_split"}.
std::vector<std::string> data_feature_names();
NodeCost data_cost(const CostKind& kind, const std::vector<Shape>& in, const Shape& out,
                   bool parallel);

}  // namespace nse
