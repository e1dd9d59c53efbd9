// The deployment sweep's vocabulary: each op generates seeded synthetic single-layer instances of
// the kinds it runs as (shapes from the ranges real CNNs use, not taken from any evaluated
// model); the deployment lab (lab/sweep.cpp) builds a one-node network of each and times it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "base/tensor.h"

namespace nse {

// One synthetic single-node network.
struct SweepCase {
    // The cost kind the generator aims at (the layer decides what the node runs as: a general
    // 3x3 convolution may run as Winograd), the graph op, a human-readable description.
    std::string kind, op, desc;
    Shape input;
    nlohmann::json attrs = nlohmann::json::object();
    std::vector<Shape> params;  // weight shapes (filled with seeded random values)
    int inputs = 1;             // an op of two inputs (add) takes the input twice

    SweepCase(std::string kind_, std::string op_, std::string desc_, Shape input_)
        : kind(std::move(kind_)),
          op(std::move(op_)),
          desc(std::move(desc_)),
          input(std::move(input_)) {}
};

// What a generator draws from and appends to.
class SweepContext {
  public:
    SweepContext(std::mt19937& rng, bool quick, std::vector<SweepCase>& out)
        : rng_(rng), quick_(quick), out_(out) {}

    // How many instances a generator makes where the full sweep wants about n per kind: 2n in a
    // full sweep, n/5 (at least 2) in a quick one.
    int count(int n) const { return quick_ ? std::max(2, n / 5) : 2 * n; }
    template <typename T>
    T pick(const std::vector<T>& v) {
        return v[rng_() % v.size()];
    }
    uint32_t draw() { return rng_(); }
    void add(SweepCase c) { out_.push_back(std::move(c)); }

    // The channel counts and square map sizes most generators draw from.
    static const std::vector<int64_t>& channels();
    static const std::vector<int64_t>& sizes();
    // "<what> c<c> <h>x<h>".
    static std::string desc(const std::string& what, int64_t c, int64_t h);

  private:
    std::mt19937& rng_;
    bool quick_;
    std::vector<SweepCase>& out_;
};

using SweepFn = void (*)(SweepContext&);

// count(per_kind) instances on [1, c, h, h] maps of up to 8 M values: draws c and h, then
// make(c, h) adds an instance and returns true, or returns false to draw again.
template <typename F>
void sweep_maps(SweepContext& ctx, int per_kind, F make) {
    for (int made = 0; made < ctx.count(per_kind);) {
        const int64_t c = ctx.pick(SweepContext::channels()), h = ctx.pick(SweepContext::sizes());
        if (double(c) * h * h > 8e6) continue;
        if (make(c, h)) ++made;
    }
}

// A generator for ops whose cost is set by the values they read and write: count(20) instances
// of `op` (`inputs` inputs, `attrs`) on [1, c, h, h] maps of up to 8 M values.
void sweep_data_op(SweepContext& ctx, const std::string& kind, const std::string& op, int inputs,
                   const nlohmann::json& attrs = nlohmann::json::object(), int per_kind = 20);

}  // namespace nse
