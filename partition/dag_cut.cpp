#include "partition/dag_cut.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <queue>
#include <set>

#include "base/error.h"

namespace nse {

bool closed_under_predecessors(const Model& model, const NodeSet& edge) {
    if (int(edge.size()) != model.size()) return false;
    for (int i = 0; i < model.size(); ++i) {
        if (!edge[size_t(i)]) continue;
        for (int id : model.node_inputs(i))
            if (id != 0 && !edge[size_t(id - 1)]) return false;
    }
    return true;
}

int edge_count(const NodeSet& edge) { return int(std::count(edge.begin(), edge.end(), true)); }

int as_position_cut(const NodeSet& edge) {
    const int k = edge_count(edge);
    for (int i = 0; i < int(edge.size()); ++i)
        if (edge[size_t(i)] != (i < k)) return -1;
    return k;
}

std::vector<int> edge_first_order(const NodeSet& edge) {
    std::vector<int> order;
    for (int pass = 0; pass < 2; ++pass)
        for (int i = 0; i < int(edge.size()); ++i)
            if (edge[size_t(i)] == (pass == 0)) order.push_back(i);
    return order;
}

std::vector<int> crossing_tensors(const Model& model, const NodeSet& edge) {
    const int n = model.size();
    std::vector<bool> crosses(size_t(n) + 1, false);
    const auto on_edge = [&](int id) { return id == 0 || edge[size_t(id - 1)]; };
    for (int i = 0; i < n; ++i)
        if (!edge[size_t(i)])
            for (int id : model.node_inputs(i))
                if (on_edge(id)) crosses[size_t(id)] = true;
    for (int id : model.output_ids())
        if (on_edge(id)) crosses[size_t(id)] = true;
    std::vector<int> ids;
    for (int id = 0; id <= n; ++id)
        if (crosses[size_t(id)]) ids.push_back(id);
    return ids;
}

size_t crossing_bytes(const Model& model, const NodeSet& edge) {
    size_t bytes = 0;
    for (int id : crossing_tensors(model, edge))
        bytes += size_t(numel(id == 0 ? model.graph().input_shape : model.info(id - 1).out_shape)) *
                 sizeof(float);
    return bytes;
}

std::vector<uint8_t> pack_nodes(const NodeSet& edge) {
    std::vector<uint8_t> bytes((edge.size() + 7) / 8, 0);
    for (size_t i = 0; i < edge.size(); ++i)
        if (edge[i]) bytes[i / 8] |= uint8_t(1u << (i % 8));
    return bytes;
}

NodeSet unpack_nodes(const uint8_t* bytes, size_t size, int n) {
    NSE_CHECK(n >= 0 && size == (size_t(n) + 7) / 8, ErrorCode::InvalidArgument, "a node set of ",
              n, " nodes takes ", (size_t(n) + 7) / 8, " bytes, got ", size);
    NodeSet edge(size_t(n), false);
    for (size_t i = 0; i < size_t(n); ++i) edge[i] = (bytes[i / 8] >> (i % 8)) & 1;
    for (size_t i = size_t(n); i < size * 8; ++i)
        NSE_CHECK(!((bytes[i / 8] >> (i % 8)) & 1), ErrorCode::InvalidArgument,
                  "a node set marks node ", i, " of a model of ", n, " nodes");
    return edge;
}

std::string nodes_hex(const NodeSet& edge) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (uint8_t b : pack_nodes(edge)) {
        out += digits[b >> 4];
        out += digits[b & 15];
    }
    return out;
}

NodeSet parse_nodes_hex(const std::string& hex, int n) {
    NSE_CHECK(hex.size() % 2 == 0, ErrorCode::InvalidArgument,
              "a node set in hex has two digits per byte, got ", hex.size(), " digits");
    std::vector<uint8_t> bytes;
    for (size_t i = 0; i < hex.size(); i += 2) {
        const auto digit = [&](char c) {
            if (c >= '0' && c <= '9') return c - '0';
            if (c >= 'a' && c <= 'f') return c - 'a' + 10;
            if (c >= 'A' && c <= 'F') return c - 'A' + 10;
            throw Error(ErrorCode::InvalidArgument,
                        std::string("a node set in hex has a non-hex digit '") + c + "'");
        };
        bytes.push_back(uint8_t(digit(hex[i]) * 16 + digit(hex[i + 1])));
    }
    return unpack_nodes(bytes.data(), bytes.size(), n);
}

PartitionedModels::PartitionedModels(std::shared_ptr<const Model> base, size_t capacity)
    : base_(std::move(base)), capacity_(capacity) {}

std::shared_ptr<const Model> PartitionedModels::get(const NodeSet& edge) {
    NSE_CHECK(int(edge.size()) == base_->size(), ErrorCode::InvalidArgument, "a node set of ",
              edge.size(), " nodes for a model of ", base_->size());
    NSE_CHECK(closed_under_predecessors(*base_, edge), ErrorCode::InvalidArgument,
              "the edge's nodes must include every node they read from");
    if (as_position_cut(edge) >= 0) return base_;
    const std::vector<uint8_t> key = pack_nodes(edge);
    std::lock_guard<std::mutex> lock(mu_);
    auto it = held_.find(key);
    if (it != held_.end()) return it->second;
    NSE_CHECK(held_.size() < capacity_, ErrorCode::Unsupported, "this side already holds ",
              capacity_, " partitions of ", base_->name(), " (the most it keeps)");
    return held_[key] = Model::reordered(base_, edge_first_order(edge));
}

namespace {

// Dinic's maximum flow on doubles; after run(), reachable() is the source side of a minimum cut.
class MaxFlow {
  public:
    explicit MaxFlow(int vertices) : adj_(size_t(vertices)) {}
    void arc(int from, int to, double cap) {
        if (cap <= 0) return;
        adj_[size_t(from)].push_back(int(to_.size()));
        to_.push_back(to);
        cap_.push_back(cap);
        adj_[size_t(to)].push_back(int(to_.size()));
        to_.push_back(from);
        cap_.push_back(0);
    }
    void run(int s, int t) {
        while (levels(s, t)) {
            next_.assign(adj_.size(), 0);
            while (push(s, t, std::numeric_limits<double>::infinity()) > kEps) {
            }
        }
    }
    std::vector<bool> reachable(int s) {
        levels(s, -1);
        std::vector<bool> out(adj_.size());
        for (size_t v = 0; v < adj_.size(); ++v) out[v] = level_[v] >= 0;
        return out;
    }

  private:
    static constexpr double kEps = 1e-12;
    bool levels(int s, int t) {
        level_.assign(adj_.size(), -1);
        std::queue<int> q;
        level_[size_t(s)] = 0;
        q.push(s);
        while (!q.empty()) {
            const int v = q.front();
            q.pop();
            for (int a : adj_[size_t(v)])
                if (cap_[size_t(a)] > kEps && level_[size_t(to_[size_t(a)])] < 0) {
                    level_[size_t(to_[size_t(a)])] = level_[size_t(v)] + 1;
                    q.push(to_[size_t(a)]);
                }
        }
        return t >= 0 && level_[size_t(t)] >= 0;
    }
    double push(int v, int t, double limit) {
        if (v == t) return limit;
        for (int& i = next_[size_t(v)]; i < int(adj_[size_t(v)].size()); ++i) {
            const int a = adj_[size_t(v)][size_t(i)];
            const int w = to_[size_t(a)];
            if (cap_[size_t(a)] <= kEps || level_[size_t(w)] != level_[size_t(v)] + 1) continue;
            const double got = push(w, t, std::min(limit, cap_[size_t(a)]));
            if (got > kEps) {
                cap_[size_t(a)] -= got;
                cap_[size_t(a ^ 1)] += got;
                return got;
            }
        }
        return 0;
    }
    std::vector<std::vector<int>> adj_;
    std::vector<int> to_;
    std::vector<double> cap_;
    std::vector<int> level_, next_;
};

}  // namespace

NodeSet min_cost_partition(const Model& model, const std::vector<double>& edge_ms,
                           const std::vector<double>& cloud_ms, double ms_per_byte) {
    const int n = model.size();
    NSE_ASSERT(int(edge_ms.size()) == n && int(cloud_ms.size()) == n);
    // Vertices: source 0 (the edge), sink 1 (the cloud), node i at 2 + i, tensor id j's
    // "sent" vertex at 2 + n + j. Source side = the edge's nodes.
    const int s = 0, t = 1;
    const auto node = [&](int i) { return 2 + i; };
    const auto sent = [&](int id) { return 2 + n + id; };
    const auto producer = [&](int id) { return id == 0 ? s : node(id - 1); };
    std::vector<double> price(size_t(n) + 1);
    double total = 0;  // of every finite arc: "infinite" is more
    for (int id = 0; id <= n; ++id) {
        const size_t bytes = id == 0 ? model.live_bytes(0) : model.info(id - 1).out_bytes;
        price[size_t(id)] = ms_per_byte * double(bytes);
        total += price[size_t(id)];
    }
    for (int i = 0; i < n; ++i) total += edge_ms[size_t(i)] + cloud_ms[size_t(i)];
    const double inf = 1 + 4 * total;
    MaxFlow g(2 + 2 * (n + 1));
    for (int i = 0; i < n; ++i) {
        g.arc(s, node(i), cloud_ms[size_t(i)]);  // cut when node i runs on the cloud
        g.arc(node(i), t, edge_ms[size_t(i)]);   // cut when it runs on the edge
    }
    for (int id = 0; id <= n; ++id) g.arc(producer(id), sent(id), price[size_t(id)]);
    for (int i = 0; i < n; ++i)
        for (int id : model.node_inputs(i)) {
            g.arc(sent(id), node(i), inf);                   // a cloud reader: the tensor is sent
            if (id != 0) g.arc(node(i), producer(id), inf);  // an edge node's inputs are too
        }
    for (int id : model.output_ids()) g.arc(sent(id), t, inf);
    g.run(s, t);
    const std::vector<bool> side = g.reachable(s);
    NodeSet edge(size_t(n), false);
    for (int i = 0; i < n; ++i) edge[size_t(i)] = side[size_t(node(i))];
    NSE_ASSERT(closed_under_predecessors(model, edge));
    return edge;
}

std::vector<NodeSet> min_cut_partitions(const Model& model, const std::vector<double>& edge_ms,
                                        const std::vector<double>& cloud_ms, size_t max_sets) {
    std::vector<NodeSet> out;
    // A chain has no closed set that is not a position: nothing to search.
    bool chain = true;
    for (int i = 0; i < model.size() && chain; ++i)
        chain = model.node_inputs(i) == std::vector<int>{i};
    if (chain) return out;
    std::set<std::vector<uint8_t>> seen;
    const auto keep = [&](const NodeSet& edge) {
        if (as_position_cut(edge) < 0 && out.size() < max_sets &&
            seen.insert(pack_nodes(edge)).second)
            out.push_back(edge);
    };
    std::vector<double> cloud(cloud_ms.size());
    // The best set changes with the price only at a few break points, and a set may be best
    // over a narrow range of prices: a coarse grid (0.1 Mbit/s to 100 Gbit/s, two steps per
    // decade, as log10 of bytes per ms) refined by bisection wherever its neighbours differ.
    const auto solve = [&](double log_rate) {
        return min_cost_partition(model, edge_ms, cloud, std::pow(10.0, -log_rate));
    };
    for (double speed = 1.0 / 64; speed <= 4.01; speed *= 2) {
        for (size_t i = 0; i < cloud.size(); ++i) cloud[i] = cloud_ms[i] * speed;
        std::vector<std::pair<double, NodeSet>> grid;
        for (int step = 0; step <= 12; ++step) {
            const double r = std::log10(12.5) + step / 2.0;
            grid.emplace_back(r, solve(r));
        }
        for (size_t g = 0; g + 1 < grid.size(); ++g) {
            keep(grid[g].second);
            // Bisect (lo, hi) while the ends differ, to a 1 % step in rate.
            std::vector<std::pair<std::pair<double, NodeSet>, std::pair<double, NodeSet>>> todo{
                {grid[g], grid[g + 1]}};
            while (!todo.empty()) {
                auto [lo, hi] = todo.back();
                todo.pop_back();
                if (lo.second == hi.second || hi.first - lo.first < 0.005) continue;
                const double mid = 0.5 * (lo.first + hi.first);
                std::pair<double, NodeSet> m{mid, solve(mid)};
                keep(m.second);
                todo.push_back({lo, m});
                todo.push_back({m, hi});
            }
        }
        keep(grid.back().second);
        if (out.size() >= max_sets) break;
    }
    return out;
}

}  // namespace nse
