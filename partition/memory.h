// Where a network's weights come from between inferences, and what that costs. The sweep measures
// a layer with its weights in the last-level cache (it scrubs only the private caches), but inside
// a network they may come from a core's own L2 (LeNet's 0.25 MB stay there) or from memory
// (VGG16's 550 MB: its fully connected layers push everything else out of the cache).
#pragma once

#include <utility>
#include <vector>

namespace nse {

struct MemoryFacts {
    // (MB, GB/s): a buffer of that size read over and over with all the pool's threads, each its
    // own share, ascending in size.
    std::vector<std::pair<double, double>> read_gbps;
    double cache_gbps = 0;   // the last-level cache's rate: the fastest from 4 MB a thread up
    double memory_gbps = 0;  // memory's: the largest buffer's
    // The largest buffer still read at least halfway from memory's rate to the cache's: about
    // how many MB of weights stay cached from one inference to the next.
    double cache_mb = 0;
    // The smallest buffer from which every larger one is read within 10 % of memory's rate: a
    // network reading this much or more per inference finds (almost) none of it cached.
    double cold_mb = 0;
    // A network's weights fall out of the cache sooner than a plain read's: they share it with
    // activations and workspaces and are read in the GEMM's order. A network reading F MB of
    // weights per inference reads them as the ladder reads pressure x F MB; the deployment
    // phase calibrates the pressure on its widest synthetic network.
    double pressure = 1;

    bool known() const { return read_gbps.size() >= 2; }
    // The rate at which a network reading `mb` of weights per inference reads them: the ladder
    // interpolated in log size, constant beyond its ends.
    double gbps_at(double mb) const;
};

// The facts from a ladder of (MB, GB/s) reads, ascending in size (at least two), read with
// `threads` threads. Throws Error(InvalidArgument) on a malformed ladder.
MemoryFacts memory_facts(const std::vector<std::pair<double, double>>& read_gbps, int threads);

}  // namespace nse
