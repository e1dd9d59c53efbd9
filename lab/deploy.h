// The deployment phase: micro-benchmark every kernel kind on a seeded sweep of synthetic
// single-layer networks (not the evaluated models) and fit a DeviceProfile from the timings. The
// lab side of partitioning: edge and cloud need only partition/ at run time.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "base/thread_pool.h"
#include "engine/executor.h"
#include "partition/profile.h"

namespace nse {

struct DeployOptions {
    bool quick = false;  // a tenth of the configurations (tests, a first look)
    uint32_t seed = 1;
    double min_time_ms = 40;  // per configuration: repeat until this much time was measured
    DeviceOptions device;     // where the kernels run (the profile's device)
    // The CPU threads the kernels run on (required); its size is the profile's thread count.
    std::shared_ptr<ThreadPool> pool;
};

// The kind of a DeploySample timed hot (DeviceProfile::hot_kinds): "hot:conv".
inline const std::string kHotPrefix = "hot:";

struct DeploySample {
    std::string kind;    // a kernel kind, the same timed hot (kHotPrefix), or "network" and
                         // "network_layer" for the network-factor measurements
    std::string config;  // human-readable layer (or network) description
    NodeFeatures features;
    double ms = 0;             // measured
    double predicted_ms = 0;   // by the fitted kinds, before the network factor
    double alone_ms = 0;       // "network": the sum of its layers measured one by one
    double in_network_ms = 0;  // "network": the sum of its layers' times inside whole runs;
                               // "network_layer": this layer's time inside them
};

// progress(stage, done, total) is called after each configuration; `stage` names the part of the
// work ("micro-benchmarks", then "second pass"), whose total is known when it starts.
using DeployProgress = std::function<void(const std::string& stage, int done, int total)>;
// The profile keeps the synthetic networks' whole-run medians (DeviceProfile::reference_ms).
DeviceProfile deploy_profile(const DeployOptions& options, const DeployProgress& progress,
                             std::vector<DeploySample>* samples_out = nullptr);

// Who writes a layer's input before each timed run, as the layer before it would have inside a
// network.
enum class InputWriters {
    Shares,  // each pool thread the contiguous share it reads itself if split the same way
    Mixed,   // the pool threads in turn, 4 KB blocks each (a layer before split another way)
};

// Median latency (ms) of a whole model's nodes on `input` (the sum of per-node times, so on a GPU
// the copies in and out are not counted), repeating until `min_time_ms` was measured (at least
// 3 runs, after one warm-up). `scrub_bytes` > 0 overwrites that much memory before each run and
// then rewrites `input` with its own values (by `writers`), as a layer inside a network finds
// the caches: its input just written, everything else pushed out by the layers around it.
double median_latency_ms(const std::shared_ptr<const Model>& model, Tensor& input,
                         const std::shared_ptr<ThreadPool>& pool, double min_time_ms,
                         size_t scrub_bytes = 0, int max_runs = 200,
                         const DeviceOptions& device = {},
                         InputWriters writers = InputWriters::Shares);

// The deployment phase's synthetic networks that `p` has times for (reference_ms), each timed
// whole again now as the deployment phase timed them (ms by name; about a second on a CPU).
std::map<std::string, double> time_reference_networks(const DeviceProfile& p,
                                                      const DeviceOptions& device,
                                                      const std::shared_ptr<ThreadPool>& pool);
// How many times longer the machine takes now than when it was profiled: the geometric mean of
// now / then over the networks in both; 0 where there are none.
double reference_ratio(const std::map<std::string, double>& then,
                       const std::map<std::string, double>& now);

}  // namespace nse
