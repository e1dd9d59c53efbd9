// A loaded model: the graph, one layer per node bound to the weights of the model file, the
// shape and cost of every node, and the live tensors of every cut. Immutable once loaded and
// shared by any number of Runtimes.
//
// Tensor ids: 0 is the graph input, i + 1 the output of node i. A cut k (0 <= k <= size())
// puts nodes [0, k) on one side and [k, size()) on the other; its live set is every tensor
// produced before k and used at or after k (or a graph output).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/graph.h"
#include "layers/layer.h"
#include "layers/op.h"
#include "weights/safetensors.h"

namespace nse {

struct NodeInfo {
    Shape out_shape;  // batch 1
    double flops = 0;
    size_t out_bytes = 0;
    size_t param_bytes = 0;
};

class Model {
  public:
    // Reads and validates a model file; throws Error(Io / InvalidModel) with a clear message.
    static std::shared_ptr<const Model> load(const std::string& path);
    // Builds a model from an already parsed file; `where` names it in error messages and
    // `path` is what path() reports.
    static std::shared_ptr<const Model> from_safetensors(SafeTensors file, const std::string& where,
                                                         const std::string& path = "");
    // The same network with its nodes in another topological order (`order[i]`: the base's node
    // at position i), sharing the base's layers and weights; results are bit-identical. This is
    // how a partition of a DAG that is not a prefix of the file's order runs: ordered so that
    // the edge's nodes come first, it is a cut of the reordered model. Throws
    // Error(InvalidArgument) unless `order` is a permutation in which every node follows its
    // inputs.
    static std::shared_ptr<const Model> reordered(const std::shared_ptr<const Model>& base,
                                                  const std::vector<int>& order);
    // The model as loaded, that reordered() copies were made from (null for that model itself),
    // and which of its nodes node i is: what device weights are uploaded for once.
    const std::shared_ptr<const Model>& base() const { return base_; }
    int base_node(int i) const { return base_order_.empty() ? i : base_order_[size_t(i)]; }

    const Graph& graph() const { return graph_; }
    int size() const { return static_cast<int>(graph_.nodes.size()); }
    const Node& node(int i) const { return graph_.nodes[i]; }
    const Layer& layer(int i) const { return *layers_[i]; }
    // The record of node i's op (its cost kinds, sweep, GPU support).
    const OpRecord& op(int i) const { return *ops_[i]; }
    const NodeInfo& info(int i) const { return info_[i]; }

    int tensor_count() const { return size() + 1; }
    const std::string& tensor_name(int id) const;
    // Tensor ids read by node i, in input order.
    const std::vector<int>& node_inputs(int i) const { return inputs_[i]; }
    // Ids of the graph outputs, in graph order.
    const std::vector<int>& output_ids() const { return output_ids_; }
    // Last node index reading tensor `id`, or size() if it is a graph output.
    int last_use(int id) const { return last_use_[id]; }

    // Ids of the tensors live at cut k, ascending.
    std::vector<int> live_at(int cut) const;
    // Bytes of those tensors at batch 1.
    size_t live_bytes(int cut) const;
    // Shape of every tensor id for a given batch size (throws if the graph cannot take it).
    std::vector<Shape> shapes_for_batch(int64_t batch) const;
    // Where a CPU batch of [begin, end) starts running as one batch: the first position from
    // which every node reads at least as many weight bytes as it writes per image, or writes at
    // most kSmallPerImage bytes per image without weights (a classifier and the layers next to
    // it). Before it the images go one by one: a batch's feature maps outgrow the caches one
    // image's fit in (MobileNetV2 at one thread: 110 images/s alone, 71 as one batch of 16).
    // The runtime runs a batch so, and the latency models predict it so.
    int batched_from(int begin, int end) const;
    static constexpr size_t kSmallPerImage = 128 * 1024;

    const std::string& name() const { return name_; }  // e.g. "mobilenet_v2"
    // The file it was loaded from (empty when built from memory).
    const std::string& path() const { return path_; }
    const std::map<std::string, std::string>& metadata() const { return file_.metadata; }
    std::string metadata_or(const std::string& key, const std::string& fallback) const;
    // Class names stored by the converter (empty when the file has none).
    const std::vector<std::string>& classes() const { return classes_; }
    double total_flops() const;
    size_t total_param_bytes() const;

  private:
    SafeTensors file_;
    Graph graph_;
    std::string name_;
    std::string path_;
    std::vector<std::shared_ptr<Layer>> layers_;  // shared with reordered copies
    std::vector<const OpRecord*> ops_;
    std::vector<NodeInfo> info_;
    std::vector<std::vector<int>> inputs_;
    std::vector<int> output_ids_;
    std::vector<int> last_use_;
    std::vector<std::string> classes_;
    std::shared_ptr<const Model> base_;  // reordered copies: the model as loaded
    std::vector<int> base_order_;        //   and its node at each position
};

// Resolves a model name or alias ("mobilenet" -> "mobilenet_v2") to its canonical name; names
// that are not known aliases are returned unchanged.
std::string canonical_model_name(const std::string& name);
// `name` itself where it is a path (it contains '/' or ends in .safetensors), else
// "<dir>/<canonical>.safetensors".
std::string model_path(const std::string& dir, const std::string& name);

}  // namespace nse
