// A device profile: per kernel kind, a regression of latency (ms) on the node's FLOP-based
// features, fitted in the deployment phase on this device and thread count, plus the powers used
// by the energy objective. Saved as JSON.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "partition/features.h"
#include "partition/memory.h"
#include "partition/neighbours.h"

namespace nse {

struct KindFit {
    std::vector<double> coef;  // ms per unit of each feature, >= 0
    // Applied on top of the linear fit where it predicts the deployment samples better (left
    // out one at a time); empty otherwise.
    NeighbourCorrection correction;
    int samples = 0;
    // On the deployment samples: of the linear fit, and of the model as used (the correction
    // validated leaving each sample out).
    double linear_rel_error = 0;
    double median_rel_error = 0;

    double predict_ms(const std::vector<double>& x) const {
        return linear_ms(coef, x) * correction.factor(x);
    }
};

// Powers for the energy objective (watts). Defaults are those of a phone-class edge device:
// compute at full load, radio while transmitting, idle while waiting for the cloud.
struct PowerModel {
    double compute_w = 3.0;
    double transmit_w = 1.5;
    double idle_w = 0.3;
};

// What encoding and decoding a cut's tensors for the wire costs this device (net/wire_codec.h),
// nanoseconds per fp32 value, measured by net/wire_costs.h on a post-ReLU-like tensor.
struct WireCost {
    double encode_ns = 0, decode_ns = 0;
};

// Bumped whenever a kernel change moves layer timings (a faster path, a new kind) or what a
// profile holds changes: a profile fitted for other kernels mispredicts this build, so the cached
// one is rebuilt (edge and cloud) and one given with --profile draws a warning. Profiles without
// the field count as 1. What each revision changed: docs/split.md, "Kernel revisions".
inline constexpr int kKernelRevision = 23;

class DeviceProfile {
  public:
    std::string device = "cpu";
    std::string cpu;  // processor name
    // The CPU kernel path it was fitted for (cpu_features.h: avx512, avx2, neon, generic); empty
    // in profiles older than kernel revision 11. A CPU profile is used only under its own path.
    std::string cpu_path;
    int threads = 1;
    std::string engine;                     // "nsengine 0.1.0"
    int kernel_revision = kKernelRevision;  // of the build that fitted it
    std::string created;                    // UTC time
    std::map<std::string, KindFit> kinds;
    PowerModel power;
    // Whole-network time over the sum of its layers measured alone (less their weight-read term
    // and node overhead), measured in the deployment phase on synthetic multi-layer networks: what
    // a layer costs among others (caches, clock under sustained load; on a GPU, graph replay) that
    // single-layer benchmarks miss. Scales every prediction of a layer whose weights stay in cache
    // (the others are measured cold, as in a network): by the factor measured on networks of about
    // the model's weight size (a network small enough to stay in a core's cache runs faster than
    // its layers measured with cold caches), interpolated in log size between `network_factors` and
    // constant beyond them; by `network_factor` (their mean) where the model is not known.
    double network_factor = 1.0;
    std::vector<std::pair<double, double>> network_factors;  // (weights MB, factor), ascending
    double network_factor_for(double weights_mb) const;
    // CPU: what a node measured alone in the sweep pays for the scrub before it (its code,
    // page-table entries and input from further away) that it does not among other layers:
    // taken off every node's prediction.
    double node_overhead_ms = 0;
    // CPU: a network that stays within a core's private caches (hot_network()) runs its layers
    // back to back with their weights, code and data at hand, not as the sweep finds a layer
    // after its scrub. Such a network is predicted from `hot_kinds`, fitted on the sweep's
    // layers that fit there timed run after run (no scrub), times `hot_network_factor`, plus
    // `hot_handoff_ms_per_mb` for each MB a node reads from another core (handoff_mb: a layer
    // on the calling thread after one split over the pool's threads, or the reverse). Both come
    // from the tiny synthetic networks: the factor from their other nodes' times inside their
    // whole runs over the same layers timed hot (the median over rounds), the rate from what
    // the hand-off nodes took there beyond the factor. Kinds without a hot fit, and every kind
    // where the factor is 0 (a GPU, whose sweep does not scrub), take the path above.
    std::map<std::string, KindFit> hot_kinds;
    double hot_network_factor = 0;
    double hot_handoff_ms_per_mb = 0;
    // CPU: the read rates measured in the deployment phase (unknown on a GPU and in older
    // profiles: no weight-read term).
    MemoryFacts memory;
    // The deployment phase's synthetic networks (chain_models) by name, and the median of their
    // whole runs then (ms): timed again (time_reference_networks), they tell how much slower or
    // faster the machine runs than when it was profiled (empty in older profiles).
    std::map<std::string, double> reference_ms;
    // By encoding name ("int8+zstd"); empty in older profiles (the tools measure it at start).
    std::map<std::string, WireCost> wire;
    // Per node of a model, what reading its weights where the network finds them costs over
    // reading them from the last-level cache, as the sweep's layers did, given each node's time
    // with its weights there (`alone_ms`, the sweep's prediction or a measurement). The model
    // reads F MB of weights per inference at the rate measured for buffers of F MB. Where that
    // is faster than the cache's (a model within the private caches: LeNet), the node gains the
    // difference in read time; where slower (a model far beyond the cache: VGG16), it pays only
    // what its multiply-adds do not hide: the smooth maximum (root of the sum of squares) of its
    // time and the read, less the same with the cache's rate. Zero for the nodes the sweep
    // measured cold.
    std::vector<double> weight_reads_ms(const Model& model,
                                        const std::vector<double>& alone_ms) const {
        return weight_reads_ms(model, alone_ms, memory.pressure);
    }
    // The same at another cache pressure (the deployment phase's calibration).
    std::vector<double> weight_reads_ms(const Model& model, const std::vector<double>& alone_ms,
                                        double pressure) const;

    // Per node of a model, what writing its output costs where the network writes it over
    // what the sweep paid: a node with an output past kFlushedOutputMb was measured writing it
    // to memory, as in a network whose weights push everything out of the cache between
    // inferences (VGG16); in one whose weights and activations stay cached (MobileNetV2's 14 MB)
    // the same output is written to the cache, at half the rate the model's weights are read
    // at (each line read for ownership and written back). Zero or negative: the multiply-adds'
    // share of the measured time, taken as what is left of it after the write at memory's rate
    // (the sweep's such layers are bound by that write: the difference), and the write to the
    // cache (smooth maximum).
    std::vector<double> output_writes_ms(const Model& model,
                                         const std::vector<double>& alone_ms) const;

    // Per node of a model, what writing its output to memory costs a layer that only moves
    // data (pooling, element-wise: moves_data) over writing it to the cache, as the sweep's
    // such layers did: in a network whose weights come from memory, between inferences they
    // push the activations' buffers out of the cache too, and each line of the output is read
    // from memory for ownership before it is written. Its MB at the rate the model reads its
    // weights, less the same at the cache's; zero in a network that stays cached and for the
    // nodes measured cold. Layers that compute hide it.
    std::vector<double> cold_outputs_ms(const Model& model,
                                        const std::vector<NodeFeatures>& features,
                                        const std::vector<double>& alone_ms) const;

    // Predicted latency of one node; kinds the profile lacks cost nothing but a warning-free
    // floor of kMinNodeMs (a profile from `deploy` has every kind).
    double predict_ms(const NodeFeatures& f) const;
    // Per node of a model run on a batch of `batch` images, with the network factor for its
    // weight size and the weight-read term. A CPU runs a batch image by image up to
    // Model::batched_from (those nodes cost `batch` times their single-image time) and as one
    // batch from there (predicted from their features at the batch's shapes, weights read once;
    // the deployment phase times such layers at batches of 2 to 16 too).
    std::vector<double> predict_model(const Model& model, int64_t batch = 1) const;

    nlohmann::json to_json() const;
    // Throws Error(InvalidArgument) naming what is wrong.
    static DeviceProfile from_json(const nlohmann::json& j);
    static DeviceProfile load(const std::string& path);
    void save(const std::string& path) const;  // writes atomically (temp file + rename)

  private:
    // Every node of the model as run as one batch of `batch` images.
    std::vector<double> predict_nodes(const Model& model, int64_t batch) const;
    std::vector<double> weight_reads_ms(const std::vector<NodeWeights>& weights,
                                        const std::vector<double>& alone_ms, double pressure) const;
    std::vector<double> output_writes_ms(const std::vector<NodeWeights>& weights,
                                         const std::vector<double>& alone_ms) const;
    std::vector<double> cold_outputs_ms(const std::vector<NodeWeights>& weights,
                                        const std::vector<NodeFeatures>& features,
                                        const std::vector<double>& alone_ms) const;
    // Whether the memory terms apply (a CPU profile with a read ladder); throws
    // Error(Internal) unless `alone_ms` has one time per node.
    bool has_memory_terms(size_t nodes, const std::vector<double>& alone_ms) const;
};

// What a network keeps in a core's caches while it runs: its weights and the largest input and
// output of one node. A network within kHotNetworkMb of it runs hot (DeviceProfile::hot_kinds),
// and so does a layer of the sweep within it (LeNet: 0.27 MB; a core's L2 here: 2 MB).
// (At `batch` images run as one batch.)
double working_set_mb(const Model& model, int64_t batch = 1);
constexpr double kHotNetworkMb = 1.0;
inline bool hot_network(const Model& model, int64_t batch = 1) {
    return working_set_mb(model, batch) <= kHotNetworkMb;
}

// Where profiles are cached: $NSE_CACHE_DIR, else $XDG_CACHE_HOME/nsengine, else
// ~/.cache/nsengine; the file is profile-<device>-<threads>t.json, where a CPU's device is
// cpu-<path> (cpu-avx512, cpu-avx2, ...: the kernel path in use, cpu_features.h).
std::string cached_profile_path(const std::string& device, int threads);

}  // namespace nse
