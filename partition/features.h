// What the cost model knows of a model's nodes: each node's kernel kind and features, as its
// layer declares them (Layer::cost, layers/cost.h), and what follows for the whole model (which
// weights are read from where, which inputs cross between cores' caches).
#pragma once

#include <string>
#include <vector>

#include "engine/model.h"
#include "layers/cost.h"
#include "layers/op.h"

namespace nse {

struct NodeFeatures {
    std::string kind;       // a CostKind's name: "conv", "conv1x1", "depthwise", "max_pool", ...
    std::vector<double> x;  // regression inputs, first is the constant 1
};

// Whether the deployment phase measures a layer of these sizes with cold caches (after a flush
// bigger than the last-level cache) rather than only its private caches scrubbed.
inline bool measured_cold(double param_mb, double out_mb) {
    return param_mb > kCachedWeightsMb || out_mb > kFlushedOutputMb;
}

// Whether a kind only moves data (CostKind::moves_data); false for an unknown name.
bool moves_data(const std::string& kind);
// Names of the regression inputs for a kind (for JSON and tables), same order as x; throws
// Error(InvalidArgument) for an unknown kind.
std::vector<std::string> feature_names(const std::string& kind);
// Every kind the deployment phase measures (every registered op's kinds).
std::vector<std::string> cost_kinds();

// Features of node `i` of `model` when its inputs have `in` shapes.
NodeFeatures node_features(const Model& model, int i, const std::vector<Shape>& in);
// Features of every node with the whole model run at `batch` images (each node's shapes at
// that batch: which nodes a CPU actually runs as one batch is Model::batched_from).
std::vector<NodeFeatures> model_features(const Model& model, int64_t batch = 1);

// What a node reads of its weights per inference, as its kernel keeps them (MB,
// Layer::weight_read_mb). And whether the deployment phase measured that node cold
// (measured_cold), and the MB of its output, which the sweep wrote to memory when measured cold;
// with the node run as one batch of `batch` images (its weights read once).
struct NodeWeights {
    double read_mb = 0;
    bool measured_cold = false;
    double out_mb = 0;
};
std::vector<NodeWeights> model_weights(const Model& model, int64_t batch = 1);

// Per node of a model run with `threads` threads, the MB of its inputs written by a node that
// ran the other way — spread over the pool's threads where this one runs on the calling thread
// alone, or the reverse (the graph's input counts as written by the calling thread): data that
// crosses between cores' caches. Whether a node runs on the pool is its layer's
// NodeCost::parallel. Used for networks that stay in a core's caches, where such a hand-off is a
// visible share of a layer's few microseconds.
std::vector<double> handoff_mb(const Model& model, int threads);

}  // namespace nse
