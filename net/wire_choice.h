// Which encodings the planner may send a cut's tensors in, and what it knows of each: the
// devices' measured encode and decode costs (DeviceProfile::wire), the bytes each cut's tensors
// take (exact for a plain format; measured on sample pictures for a lossless stage, whose gain
// depends on the data), and, for a lossy format, how often the model's top-1 class survives it
// (the calibration `nsengine calibrate` writes beside the model file).
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/model.h"
#include "net/wire_codec.h"
#include "partition/planner.h"
#include "partition/profile.h"

namespace nse::net {

// Encode and decode time of every encoding on this machine, on one calling thread: the median of
// a few rounds over a 1x64x56x56 tensor with half its values zero (ReLU's output) and the rest
// spread as activations are. About 0.1 s.
std::map<std::string, WireCost> measure_wire_costs();

// What a calibration measured at one cut for one encoding, over its pictures.
struct WireMeasure {
    double ratio = 1;           // bytes sent over fp32 bytes, mean
    double top1_agreement = 1;  // share of pictures whose top-1 class equals fp32's
    double max_rel_error = 0;   // max |logit - fp32 logit| / max |fp32 logit|
};

struct WireCalibration {
    std::string model;
    std::string model_hash;           // hash_hex of the model file
    std::vector<std::string> images;  // the pictures, by file name
    // Per cut 0..n-1 (n = the model's node count), by encoding name.
    std::vector<std::map<std::string, WireMeasure>> cuts;

    nlohmann::json to_json() const;
    // Throws Error(InvalidArgument) naming what is wrong.
    static WireCalibration from_json(const nlohmann::json& j);
    static WireCalibration load(const std::string& path);
    void save(const std::string& path) const;  // atomically
};
// <model file>.wire.json: where `nsengine calibrate` writes and the edge looks.
std::string calibration_path(const std::string& model_file);

// How the edge chooses encodings: `auto` (lossless ones, and a lossy one at a cut where the
// calibration measured a top-1 agreement of at least min_agreement), `exact` (lossless only), or
// one encoding forced at every cut.
struct WirePolicy {
    enum class Mode { Auto, Exact, Forced } mode = Mode::Auto;
    WireEncoding forced;
    double min_agreement = 0.995;
};
// "auto", "exact" or an encoding name; throws Error(InvalidArgument) listing the choices.
WirePolicy parse_wire_policy(const std::string& s);

// The planner's options for `model` under `policy`: costs from the two profiles (zero where a
// profile lacks them), ratios from `calibration` (may be null: plain formats only then, from the
// shapes), restricted to `accepted` (the cloud's HELLO_ACK list; empty: every encoding).
std::vector<WireOption> wire_options(const Model& model, const DeviceProfile& edge,
                                     const DeviceProfile& cloud, const WireCalibration* calibration,
                                     const WirePolicy& policy,
                                     const std::vector<std::string>& accepted = {});

}  // namespace nse::net
