// The synthetic multi-layer networks of the deployment phase, and the network factors they give:
// each network is timed whole (wall time, and each layer's time inside it) and layer by layer
// alone, as the sweep times its layers; a layer's time in the network over its time alone is
// what running among other layers costs (caches, clocks, dispatch) that the sweep cannot see.
#pragma once

#include <memory>
#include <random>
#include <vector>

#include "engine/model.h"
#include "lab/deploy.h"
#include "partition/profile.h"

namespace nse {

// A synthetic network, and each of its layers as a single-layer network.
struct Chain {
    std::shared_ptr<const Model> whole;
    std::vector<std::shared_ptr<const Model>> layers;
};

// Five networks unlike any evaluated one in their shapes: a tiny CNN whose weights (0.4 MB)
// stay in a core's cache between inferences, inverted residual blocks (1x1 expand, depthwise,
// 1x1 project, add), a plain 3x3 stack with pooling and a residual pair (these two about 6 MB),
// wide 3x3 layers on 14x14 and 7x7 maps (46 MB) and a second tiny one, 5x5 layers and three
// fully connected ones (0.37 MB). Seeded weights.
std::vector<Chain> chain_models(std::mt19937& rng);

// What a node measured alone pays that it does not among others: its code, page-table entries
// and input come from further away after the sweep's scrub. Measured as one tiny ReLU alone
// (as the sweep measures a layer) against a network of kOverheadChainNodes of them, whose
// layers[0] is that one alone.
constexpr int kOverheadChainNodes = 32;
Chain overhead_chain(std::mt19937& rng);

// One synthetic network's measurements, one entry per timing round.
struct ChainTimings {
    std::vector<double> wall_ms;                // whole runs
    std::vector<std::vector<double>> node_ms;   // [layer][round]: inside the whole runs
    std::vector<std::vector<double>> alone_ms;  // [layer][round]: as a single-layer network
    std::vector<std::vector<double>> hot_ms;    // [layer][round]: the same run after run (empty
                                                // but for networks within kHotNetworkMb)
};

// (weights MB, factor) points, one per network, ascending in size, those within 2x of the
// smallest of a run of them merged into one (geometric means of size and factor).
std::vector<std::pair<double, double>> merge_network_points(
    std::vector<std::pair<double, double>> points);

// The cache pressure (MemoryFacts::pressure, >= 1) at which the weight-read term of `model` adds
// up to `extra_ms`: what the model's whole runs took beyond its layers alone times its network
// factor. 1 where the term at 1 covers it already; at most the pressure at which the model's
// weights are read at memory's rate (MemoryFacts::cold_mb).
// `alone_ms`: each node's time alone, as DeviceProfile::weight_reads_ms takes it.
double calibrate_cache_pressure(const DeviceProfile& p, const Model& model,
                                const std::vector<double>& alone_ms, double extra_ms);

// Sets p.network_factors and p.network_factor from the chains' timings (p's kinds and memory
// facts already set), p.hot_network_factor and p.hot_handoff_ms_per_mb from the hot ones' (if
// p has hot kinds) and, on a CPU, p.memory.pressure from the widest of them; appends a "network"
// sample per chain and a "network_layer" sample per layer (alone, inside the network, as the fits
// predict it) to `samples` if given.
void set_network_factors(const std::vector<Chain>& chains, const std::vector<ChainTimings>& t,
                         DeviceProfile& p, std::vector<DeploySample>* samples);

}  // namespace nse
