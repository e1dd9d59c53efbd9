// DeviceProfile's predictions and the per-kind fit (JSON and the cache: profile_json.cpp).
#include "partition/profile.h"

#include <algorithm>
#include <cmath>

#include "base/error.h"
#include "base/stats.h"

namespace nse {

double DeviceProfile::predict_ms(const NodeFeatures& f) const {
    auto it = kinds.find(f.kind);
    if (it == kinds.end() || it->second.coef.size() != f.x.size()) return kMinNodeMs;
    return std::max(it->second.predict_ms(f.x) * network_factor, kMinNodeMs);
}

double DeviceProfile::network_factor_for(double weights_mb) const {
    if (network_factors.empty()) return network_factor;
    return log_interpolate(network_factors, weights_mb);
}

namespace {
// The rate (GB/s) at which a model reads its weights per inference: the memory ladder's for its
// weight MB x the cache pressure.
double weights_gbps(const MemoryFacts& memory, const std::vector<NodeWeights>& weights,
                    double pressure) {
    double read_mb = 0;
    for (const NodeWeights& w : weights) read_mb += w.read_mb;
    return memory.gbps_at(read_mb * pressure);
}
}  // namespace

bool DeviceProfile::has_memory_terms(size_t nodes, const std::vector<double>& alone_ms) const {
    if (device != "cpu" || !memory.known()) return false;
    NSE_CHECK(alone_ms.size() == nodes, ErrorCode::Internal,
              "memory terms: one time per node expected");
    return true;
}

std::vector<double> DeviceProfile::weight_reads_ms(const Model& model,
                                                   const std::vector<double>& alone_ms,
                                                   double pressure) const {
    return weight_reads_ms(model_weights(model), alone_ms, pressure);
}

std::vector<double> DeviceProfile::weight_reads_ms(const std::vector<NodeWeights>& weights,
                                                   const std::vector<double>& alone_ms,
                                                   double pressure) const {
    std::vector<double> out(weights.size(), 0.0);
    if (!has_memory_terms(weights.size(), alone_ms)) return out;
    const double rate = weights_gbps(memory, weights, pressure);  // MB / (GB/s) = ms
    for (size_t i = 0; i < weights.size(); ++i) {
        if (weights[i].measured_cold || weights[i].read_mb <= 0) continue;
        const double mb = weights[i].read_mb, t = std::max(0.0, alone_ms[i]);
        out[i] = rate >= memory.cache_gbps
                     ? mb * (1.0 / rate - 1.0 / memory.cache_gbps)
                     : std::hypot(t, mb / rate) - std::hypot(t, mb / memory.cache_gbps);
    }
    return out;
}

std::vector<double> DeviceProfile::output_writes_ms(const Model& model,
                                                    const std::vector<double>& alone_ms) const {
    return output_writes_ms(model_weights(model), alone_ms);
}

std::vector<double> DeviceProfile::output_writes_ms(const std::vector<NodeWeights>& weights,
                                                    const std::vector<double>& alone_ms) const {
    std::vector<double> out(weights.size(), 0.0);
    if (!has_memory_terms(weights.size(), alone_ms)) return out;
    // A line written in the cache is read for ownership and later written back, both at the
    // cache's rate; one written to memory costs the read from memory (the write-back is queued
    // behind the layer): so the credit only starts where the cache is twice memory's rate.
    const double rate = 0.5 * weights_gbps(memory, weights, memory.pressure);
    if (rate <= memory.memory_gbps) return out;
    for (size_t i = 0; i < weights.size(); ++i) {
        const NodeWeights& w = weights[i];
        if (w.out_mb <= kFlushedOutputMb || w.read_mb > kCachedWeightsMb) continue;
        const double t = std::max(0.0, alone_ms[i]), cold = w.out_mb / memory.memory_gbps;
        out[i] = std::min(0.0, std::hypot(std::max(0.0, t - cold), w.out_mb / rate) - t);
    }
    return out;
}

std::vector<double> DeviceProfile::cold_outputs_ms(const Model& model,
                                                   const std::vector<NodeFeatures>& features,
                                                   const std::vector<double>& alone_ms) const {
    return cold_outputs_ms(model_weights(model), features, alone_ms);
}

std::vector<double> DeviceProfile::cold_outputs_ms(const std::vector<NodeWeights>& weights,
                                                   const std::vector<NodeFeatures>& features,
                                                   const std::vector<double>& alone_ms) const {
    std::vector<double> out(weights.size(), 0.0);
    if (!has_memory_terms(weights.size(), alone_ms)) return out;
    const double rate = weights_gbps(memory, weights, memory.pressure);
    if (rate >= memory.cache_gbps) return out;
    for (size_t i = 0; i < weights.size(); ++i)
        if (moves_data(features[i].kind) && !weights[i].measured_cold)
            out[i] = weights[i].out_mb * (1.0 / rate - 1.0 / memory.cache_gbps);
    return out;
}

std::vector<double> DeviceProfile::predict_nodes(const Model& model, int64_t batch) const {
    const double factor = network_factor_for(double(model.total_param_bytes()) / 1e6);
    const std::vector<NodeFeatures> features = model_features(model, batch);
    const std::vector<NodeWeights> weights = model_weights(model, batch);
    std::vector<double> alone;  // with the weights in the cache, as the sweep measured
    for (int i = 0; i < model.size(); ++i) {
        const NodeFeatures& f = features[i];
        auto it = kinds.find(f.kind);
        if (it == kinds.end() || it->second.coef.size() != f.x.size()) {
            alone.push_back(-1);  // (unknown kind: the floor below)
            continue;
        }
        // A layer whose weights stream from memory was measured that way (after a flush): the
        // network around it changes nothing, so it is not scaled (AlexNet's fully connected
        // layers, half its time, came out 13 % high when they were).
        const bool streamed = double(model.layer(i).param_bytes()) > kCachedWeightsMb * 1e6;
        alone.push_back(it->second.predict_ms(f.x) * (streamed ? 1.0 : factor));
    }
    const std::vector<double> reads = weight_reads_ms(weights, alone, memory.pressure);
    const std::vector<double> writes = output_writes_ms(weights, alone);
    const std::vector<double> cold = cold_outputs_ms(weights, features, alone);
    std::vector<double> out;
    for (int i = 0; i < model.size(); ++i) {
        const double ms = alone[i];
        if (ms < 0) {
            out.push_back(kMinNodeMs);
            continue;
        }
        // (Weights from a private cache save at most half a layer's time.)
        const double memory_ms = std::max(ms + reads[i], 0.5 * ms) + writes[i] + cold[i];
        out.push_back(std::max(memory_ms - node_overhead_ms, kMinNodeMs));
    }
    if (hot_network_factor > 0 && hot_network(model, batch)) {
        const std::vector<double> handoff = handoff_mb(model, threads);
        for (int i = 0; i < model.size(); ++i) {
            auto it = hot_kinds.find(features[i].kind);
            if (it != hot_kinds.end() && it->second.coef.size() == features[i].x.size())
                out[i] = std::max(it->second.predict_ms(features[i].x) * hot_network_factor +
                                      handoff[i] * hot_handoff_ms_per_mb,
                                  kMinNodeMs);
        }
    }
    return out;
}

std::vector<double> DeviceProfile::predict_model(const Model& model, int64_t batch) const {
    NSE_CHECK(batch >= 1, ErrorCode::InvalidArgument, "batch size must be >= 1, got ", batch);
    std::vector<double> out = predict_nodes(model, 1);
    if (batch == 1) return out;
    // As the CPU runtime runs a batch: image by image up to batched_from, then as one batch.
    // (A GPU runs every node as one batch.)
    const int split = device == "cpu" ? model.batched_from(0, model.size()) : 0;
    const std::vector<double> whole = predict_nodes(model, batch);
    for (int i = 0; i < model.size(); ++i) out[i] = i < split ? double(batch) * out[i] : whole[i];
    return out;
}

double working_set_mb(const Model& model, int64_t batch) {
    const std::vector<Shape> shapes = model.shapes_for_batch(batch);
    size_t largest = 0;
    for (int i = 0; i < model.size(); ++i) {
        size_t bytes = size_t(numel(shapes[i + 1])) * sizeof(float);
        for (int id : model.node_inputs(i)) bytes += size_t(numel(shapes[id])) * sizeof(float);
        largest = std::max(largest, bytes);
    }
    return double(model.total_param_bytes() + largest) / 1e6;
}

}  // namespace nse
