// A device profile: per kernel kind, a regression of latency (ms) on the node's FLOP-based
// features, fitted in the deployment phase on this device and thread count, plus the powers used
// by the energy objective. Saved as JSON.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "partition/features.h"

namespace nse {

struct KindFit {
    std::vector<double> coef;  // ms per unit of each feature, >= 0
    int samples = 0;
    double median_rel_error = 0;  // on the deployment samples
};

// Powers for the energy objective (watts). Defaults are those of a phone-class edge device:
// compute at full load, radio while transmitting, idle while waiting for the cloud.
struct PowerModel {
    double compute_w = 3.0;
    double transmit_w = 1.5;
    double idle_w = 0.3;
};

struct Sample {
    std::vector<double> x;
    double ms = 0;
};

class DeviceProfile {
  public:
    std::string device = "cpu";
    std::string cpu;  // processor name
    int threads = 1;
    std::string engine;   // "nsengine 0.1.0"
    std::string created;  // UTC time
    std::map<std::string, KindFit> kinds;
    PowerModel power;
    // Whole-network time over the sum of the per-layer predictions, measured in the deployment
    // phase on synthetic multi-layer networks: what a layer costs among others (caches, clock
    // under sustained load; on a GPU, graph replay) that single-layer benchmarks miss. Scales
    // every prediction.
    double network_factor = 1.0;

    // Predicted latency of one node; kinds the profile lacks cost nothing but a warning-free
    // floor of 1 us (a profile from `deploy` has every kind).
    double predict_ms(const NodeFeatures& f) const;
    // Per node of a model.
    std::vector<double> predict_model(const Model& model) const;

    nlohmann::json to_json() const;
    // Throws Error(InvalidArgument) naming what is wrong.
    static DeviceProfile from_json(const nlohmann::json& j);
    static DeviceProfile load(const std::string& path);
    void save(const std::string& path) const;  // writes atomically (temp file + rename)
};

// Non-negative weighted least squares: minimises sum((x.coef - ms)^2 / ms^1.5), coef >= 0.
KindFit fit_kind(const std::vector<Sample>& samples);

// Where profiles are cached: $NSE_CACHE_DIR, else $XDG_CACHE_HOME/nsengine, else
// ~/.cache/nsengine; the file is profile-<device>-<threads>t.json.
std::string cached_profile_path(const std::string& device, int threads);

}  // namespace nse
