// Partitions of a network that are more than positions. A cut k of the file's topological order
// puts nodes [0, k) on the edge; a network with parallel branches (GoogLeNet's inception blocks,
// DenseNet's concatenations) may also be split anywhere else that keeps every edge node's inputs
// on the edge: any node set closed under predecessors. Such a set runs as a cut of the same
// network reordered so that its nodes come first (Model::reordered).
//
// Finding good sets is DADS's construction: with a price per byte on the link, the best set is a
// minimum s-t cut of a graph whose arcs carry each node's edge time, each node's cloud time and
// each tensor's transfer price (a tensor with several consumers on the cloud is paid once). The
// link is a token bucket and each side's speed drifts, so the prices vary: min_cut_partitions()
// solves the cut over a grid of prices and keeps the distinct sets that are not positions; the
// planner then prices each exactly, as it prices positions.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engine/model.h"

namespace nse {

// Which nodes run on the edge: one flag per node of the model, in file order.
using NodeSet = std::vector<bool>;

// True when every input of every node in `edge` is the graph input or made by a node in `edge`.
bool closed_under_predecessors(const Model& model, const NodeSet& edge);
// How many nodes run on the edge (the cut of the reordered model).
int edge_count(const NodeSet& edge);
// k when `edge` is nodes [0, k) of the file order, else -1.
int as_position_cut(const NodeSet& edge);
// The order that runs `edge` first: its nodes in file order, then the others in file order
// (topological when `edge` is closed under predecessors).
std::vector<int> edge_first_order(const NodeSet& edge);
// The tensor ids of the base model that cross the link for `edge` (made on the edge, or the
// input, and read by a cloud node or a graph output), ascending; and their bytes at batch 1.
std::vector<int> crossing_tensors(const Model& model, const NodeSet& edge);
size_t crossing_bytes(const Model& model, const NodeSet& edge);

// Bits packed LSB first, as INFER carries them; and as hex text ("nodes:<hex>" on the command
// line). unpack/parse throw Error(InvalidArgument) unless the bits describe exactly `n` nodes.
std::vector<uint8_t> pack_nodes(const NodeSet& edge);
NodeSet unpack_nodes(const uint8_t* bytes, size_t size, int n);
std::string nodes_hex(const NodeSet& edge);
NodeSet parse_nodes_hex(const std::string& hex, int n);

// Reordered models for the partitions one base model is split at, each made once and kept;
// thread-safe. At most `capacity` are kept: a cloud serves any edge, and each costs a little
// memory here and a plan per worker.
class PartitionedModels {
  public:
    explicit PartitionedModels(std::shared_ptr<const Model> base, size_t capacity = 32);
    // The model whose nodes [0, edge_count(edge)) are `edge` (the base itself for a position
    // cut). Throws Error(InvalidArgument) for a set of the wrong size or not closed under
    // predecessors, Error(Unsupported) when `capacity` other partitions are already held.
    std::shared_ptr<const Model> get(const NodeSet& edge);
    const std::shared_ptr<const Model>& base() const { return base_; }

  private:
    std::shared_ptr<const Model> base_;
    size_t capacity_;
    std::mutex mu_;
    std::map<std::vector<uint8_t>, std::shared_ptr<const Model>> held_;
};

// The minimum-cost closed set for one price: edge_ms[v] + cloud_ms[v] per node and
// ms_per_byte for every tensor that crosses (the graph output counts as crossing when it is
// made on the edge, so the all-edge set is not what this finds: callers price it on their own).
NodeSet min_cost_partition(const Model& model, const std::vector<double>& edge_ms,
                           const std::vector<double>& cloud_ms, double ms_per_byte);
// Distinct sets that are not positions, found by min_cost_partition over a grid of link prices
// (0.1 Mbit/s to 100 Gbit/s) and of the cloud's speed against the edge's (1/64 to 4), in the
// order found; at most `max_sets`. Empty for a chain (every closed set is a position).
std::vector<NodeSet> min_cut_partitions(const Model& model, const std::vector<double>& edge_ms,
                                        const std::vector<double>& cloud_ms, size_t max_sets = 24);

}  // namespace nse
