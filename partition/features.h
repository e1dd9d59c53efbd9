// What the cost model knows of a node: its kernel kind and FLOP-based features, all derived from
// what the layer reports (FLOPs, input/output/parameter bytes) plus, for convolutions, the GEMM
// shape that decides how efficient the kernel can be.
#pragma once

#include <string>
#include <vector>

#include "engine/model.h"

namespace nse {

struct NodeFeatures {
    std::string kind;       // "conv", "conv1x1", "depthwise", "max_pool", "linear", ...
    std::vector<double> x;  // regression inputs, first is the constant 1
};

// A layer's weights up to this size stay in the last-level cache from one inference to the next
// (a network with larger layers is large altogether: its weights stream from memory every
// time); the deployment phase measures larger layers with cold caches and their bytes get a
// coefficient of their own. Measured here: MobileNetV2's 5 MB classifier reads at 53 GB/s in the
// network (cached), VGG16's and AlexNet's 67-411 MB ones at 29-35 GB/s.
constexpr double kCachedWeightsMb = 16.0;
// An output larger than both cores' L2 caches is written, inside a network, to a buffer the
// memory plan last used long before: the deployment phase measures such layers after a flush too.
constexpr double kFlushedOutputMb = 4.0 * 1.048576;  // 4 MiB

// An input from this size on was written by several threads (the layer before had work enough
// to split): pooling, depthwise and element-wise layers, which split it their own way, find about
// half of it in another core's cache, and the deployment phase measures them so.
constexpr double kSplitInputMb = 0.25 * 1.048576;  // 256 KiB

// Whether the deployment phase measures a layer of these sizes with cold caches (after a flush
// bigger than the last-level cache) rather than only its private caches scrubbed.
inline bool measured_cold(double param_mb, double out_mb) {
    return param_mb > kCachedWeightsMb || out_mb > kFlushedOutputMb;
}

// Whether a kind only moves data (pooling, element-wise, concat): its time is its reads and
// writes, with no arithmetic to hide a slower one behind.
bool moves_data(const std::string& kind);

// Names of the regression inputs for a kind (for JSON and tables), same order as x.
std::vector<std::string> feature_names(const std::string& kind);
// Every kind the deployment phase measures.
std::vector<std::string> cost_kinds();

// Features of node `i` of `model` when its inputs have `in` shapes.
NodeFeatures node_features(const Model& model, int i, const std::vector<Shape>& in);
// Features of every node at batch 1.
std::vector<NodeFeatures> model_features(const Model& model);

// What a node reads of its weights per inference, as its kernel keeps them (MB): Winograd
// layers read their transformed filters (4x or 1.8x the 3x3 ones), the others their parameters.
// And whether the deployment phase measured that node cold (measured_cold), at batch 1, and
// the MB of its output, which the sweep wrote to memory when measured cold.
struct NodeWeights {
    double read_mb = 0;
    bool measured_cold = false;
    double out_mb = 0;
};
std::vector<NodeWeights> model_weights(const Model& model);

// Per node of a model run with `threads` threads, the MB of its inputs written by a node that
// ran the other way — spread over the pool's threads where this one runs on the calling thread
// alone, or the reverse (the graph's input counts as written by the calling thread): data that
// crosses between cores' caches. Whether a node runs on the pool mirrors the kernels' own
// thresholds (kMinParallelWork of FLOPs or of kFlopsPerElement per pooled value; 16384 values
// for element-wise ones; softmax and flatten never): used for networks that stay in a core's
// caches, where such a hand-off is a visible share of a layer's few microseconds.
std::vector<double> handoff_mb(const Model& model, int threads);

}  // namespace nse
