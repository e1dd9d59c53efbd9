#include "lab/chains.h"

#include <algorithm>
#include <array>
#include <cmath>

#include "base/stats.h"
#include "lab/sweep.h"

namespace nse {

namespace {

// A synthetic multi-layer network for measuring the network factor: layers appended one after
// another (the current tensor's shape is tracked), seeded random weights. Each layer is also
// kept as a single-layer configuration, to be measured alone as the sweep measures its layers.
class ChainBuilder {
  public:
    ChainBuilder(Shape input, std::mt19937& rng) : input_(input), shape_(input), rng_(rng) {}

    std::string conv(int64_t k, int64_t r, int64_t stride, bool depthwise, const char* act) {
        const int64_t c = shape_[1], groups = depthwise ? c : 1;
        if (depthwise) k = c;
        ConvShape cs{shape_[0], c,      shape_[2], shape_[3], k, r, r,
                     stride,    stride, r / 2,     r / 2,     1, 1, groups};
        const std::string name =
            node("conv2d",
                 {{"stride", stride}, {"padding", r / 2}, {"groups", groups}, {"activation", act}},
                 {{k, c / groups, r, r}, {k}});
        shape_ = {shape_[0], k, cs.p(), cs.q()};
        return name;
    }
    std::string pool(int64_t k) {
        const std::string name = node("max_pool2d", {{"kernel_size", k}}, {});
        shape_ = {shape_[0], shape_[1], shape_[2] / k, shape_[3] / k};
        return name;
    }
    std::string relu() { return node("relu", nlohmann::json::object(), {}); }
    std::string add(const std::string& other) {
        return node("add", {{"activation", "none"}}, {}, {last_, other});
    }
    // Flatten, then fully connected layers of these widths (ReLU between), then softmax.
    void mlp_head(const std::vector<int64_t>& widths) {
        node("flatten", nlohmann::json::object(), {});
        shape_ = {shape_[0], shape_[1] * shape_[2] * shape_[3]};
        for (size_t i = 0; i < widths.size(); ++i) {
            const bool last = i + 1 == widths.size();
            node("linear", {{"activation", last ? "none" : "relu"}},
                 {{widths[i], shape_[1]}, {widths[i]}});
            shape_ = {shape_[0], widths[i]};
        }
        node("softmax", {{"dim", 1}}, {});
    }
    void head(int64_t classes) {
        node("adaptive_avg_pool2d", {{"output_size", 1}}, {});
        shape_ = {shape_[0], shape_[1], 1, 1};
        node("flatten", nlohmann::json::object(), {});
        shape_ = {shape_[0], shape_[1]};
        node("linear", nlohmann::json::object(), {{classes, shape_[1]}, {classes}});
        shape_ = {shape_[0], classes};
        node("softmax", {{"dim", 1}}, {});
    }
    const std::string& last() const { return last_; }
    int64_t channels() const { return shape_[1]; }
    // Every layer so far as a single-layer configuration (an add takes its input twice).
    const std::vector<SweepCase>& layers() const { return layers_; }
    std::shared_ptr<const Model> done(const std::string& desc) {
        nlohmann::json graph = {{"input", {{"name", "input"}, {"shape", input_}}},
                                {"nodes", nodes_},
                                {"outputs", {last_}}};
        file_.metadata = {
            {"nsengine.format", "1"}, {"nsengine.model", desc}, {"nsengine.graph", graph.dump()}};
        return Model::from_safetensors(std::move(file_), "deploy: " + desc);
    }

  private:
    std::string node(const std::string& op, const nlohmann::json& attrs,
                     const std::vector<Shape>& params, std::vector<std::string> inputs = {}) {
        const std::string name = "n" + std::to_string(nodes_.size());
        SweepCase layer("", op, name, shape_);
        layer.attrs = attrs;
        layer.params = params;
        layer.inputs = inputs.empty() ? 1 : int(inputs.size());
        layers_.push_back(std::move(layer));
        std::vector<std::string> names;
        for (size_t i = 0; i < params.size(); ++i) {
            names.push_back(name + ".p" + std::to_string(i));
            file_.tensors[names.back()] = random_tensor(params[i], rng_);
        }
        if (inputs.empty()) inputs = {last_};
        nodes_.push_back(
            {{"name", name}, {"op", op}, {"inputs", inputs}, {"attrs", attrs}, {"params", names}});
        last_ = name;
        return name;
    }

    Shape input_, shape_;
    std::mt19937& rng_;
    SafeTensors file_;
    nlohmann::json nodes_ = nlohmann::json::array();
    std::string last_ = "input";
    std::vector<SweepCase> layers_;
};

}  // namespace

std::vector<Chain> chain_models(std::mt19937& rng) {
    std::vector<Chain> out;
    auto finish = [&](ChainBuilder& b, const std::string& desc) {
        Chain c;
        for (const SweepCase& layer : b.layers()) c.layers.push_back(build(layer, rng));
        c.whole = b.done(desc);
        return c;
    };
    {
        ChainBuilder b({1, 3, 28, 28}, rng);
        b.conv(12, 3, 1, false, "relu");
        b.pool(2);
        b.conv(32, 3, 1, false, "relu");
        b.pool(2);
        b.mlp_head({64, 10});
        out.push_back(finish(b, "chain-tiny"));
    }
    {
        ChainBuilder b({1, 32, 56, 56}, rng);
        struct Stage {
            int64_t expand, out, stride;
        };
        for (Stage s : {Stage{3, 32, 2}, Stage{6, 32, 1}, Stage{6, 64, 2}, Stage{6, 64, 1},
                        Stage{6, 160, 2}, Stage{6, 160, 1}}) {
            const std::string in = b.last();
            const bool residual = s.stride == 1 && s.out == b.channels();
            b.conv(b.channels() * s.expand, 1, 1, false, "relu6");
            b.conv(0, 3, s.stride, true, "relu6");
            b.conv(s.out, 1, 1, false, "none");
            if (residual) b.add(in);
        }
        b.conv(640, 1, 1, false, "relu6");
        b.head(1000);
        out.push_back(finish(b, "chain-inverted-residual"));
    }
    {
        ChainBuilder b({1, 3, 112, 112}, rng);
        b.conv(32, 3, 1, false, "relu");
        b.pool(2);
        b.conv(64, 3, 1, false, "relu");
        b.pool(2);
        b.conv(128, 3, 1, false, "relu");
        b.conv(128, 3, 1, false, "relu");
        b.pool(2);
        const std::string in = b.conv(256, 3, 1, false, "relu");
        b.conv(256, 3, 1, false, "relu");
        b.conv(256, 3, 1, false, "none");
        b.add(in);
        b.head(1000);
        out.push_back(finish(b, "chain-plain"));
    }
    {
        // Wide layers on small maps, 46 MB of weights: too many to stay cached between
        // inferences (they meet the other layers' weights and activations on the way).
        ChainBuilder b({1, 128, 28, 28}, rng);
        b.conv(256, 3, 1, false, "relu");
        b.pool(2);
        b.conv(512, 3, 1, false, "relu");
        const std::string in = b.conv(512, 3, 1, false, "relu");
        b.conv(512, 3, 1, false, "none");
        b.add(in);
        b.pool(2);
        b.conv(512, 3, 1, false, "relu");
        b.conv(512, 3, 1, false, "relu");
        b.head(1000);
        out.push_back(finish(b, "chain-wide"));
    }
    {
        // A second tiny network, 5x5 layers and a deeper fully connected head (0.37 MB): in so
        // small a network the head's weights stay in a core's L2, and one tiny network alone
        // is a single sample of how its few-microsecond layers behave among others.
        ChainBuilder b({1, 1, 24, 24}, rng);
        b.conv(8, 5, 1, false, "relu");
        b.pool(2);
        b.conv(24, 5, 1, false, "relu");
        b.pool(2);
        b.mlp_head({96, 48, 10});
        out.push_back(finish(b, "chain-tiny-head"));
    }
    return out;
}

Chain overhead_chain(std::mt19937& rng) {
    ChainBuilder b({1, 16, 2, 2}, rng);
    for (int i = 0; i < kOverheadChainNodes; ++i) b.relu();
    Chain c;
    c.layers.push_back(build(b.layers()[0], rng));
    c.whole = b.done("chain-overhead");
    return c;
}

std::vector<std::pair<double, double>> merge_network_points(
    std::vector<std::pair<double, double>> points) {
    std::sort(points.begin(), points.end());
    std::vector<std::pair<double, double>> out;
    for (size_t i = 0; i < points.size();) {
        size_t j = i + 1;
        while (j < points.size() && points[j].first < 2 * points[i].first) ++j;
        double log_mb = 0, log_f = 0;
        for (size_t k = i; k < j; ++k) {
            log_mb += std::log(points[k].first);
            log_f += std::log(points[k].second);
        }
        out.emplace_back(std::exp(log_mb / double(j - i)), std::exp(log_f / double(j - i)));
        i = j;
    }
    return out;
}

double calibrate_cache_pressure(const DeviceProfile& p, const Model& model,
                                const std::vector<double>& alone_ms, double extra_ms) {
    auto term = [&](double k) {
        double ms = 0;
        for (double v : p.weight_reads_ms(model, alone_ms, k)) ms += v;
        return ms;
    };
    double read_mb = 0;
    for (const NodeWeights& w : model_weights(model)) read_mb += w.read_mb;
    if (!p.memory.known() || read_mb <= 0 || term(1) >= extra_ms) return 1;
    // Beyond the point where the model's weights are read at memory's rate more pressure
    // explains (almost) nothing: where even that is not enough, the rest is not the cache's
    // doing (the 46 MB network's whole runs went past it in some deploys, and a pressure run up
    // to the ladder's end made MobileNetV2's 14 MB look uncached too).
    const double k_max = std::max(1.0, p.memory.cold_mb / read_mb);
    if (term(k_max) <= extra_ms) return k_max;
    double lo = 1, hi = k_max;  // term(lo) < extra_ms <= term(hi)
    for (int i = 0; i < 40; ++i) {
        const double mid = std::sqrt(lo * hi);
        (term(mid) < extra_ms ? lo : hi) = mid;
    }
    return hi;
}

namespace {
// Sets p.hot_network_factor and p.hot_handoff_ms_per_mb (0 where p has no hot fits).
void set_hot_factors(const std::vector<Chain>& chains, const std::vector<ChainTimings>& t,
                     DeviceProfile& p) {
    p.hot_network_factor = 0;
    p.hot_handoff_ms_per_mb = 0;
    if (p.hot_kinds.empty()) return;
    // Networks that stay in a core's caches: their layers' times inside the whole runs over the
    // same layers timed hot (the hot fits' samples), and what a node pays per MB it reads from
    // another core's cache (handoff_mb; the tiny networks' second pools took 1.8x their time
    // run after run after a convolution split over both cores). The factor comes from the
    // other nodes; the rate is what the hand-off nodes took beyond it. Both from the nodes'
    // medians, not the whole runs: those of these networks run 2-3 us (7 %) longer than the
    // sum of their nodes' medians, their nodes' times varying from run to run, where LeNet's
    // run 0.3 us longer. Each round's sums are compared with each other (a round's in-network and
    // hot times were measured in the same pass) and the median over the rounds taken, so a
    // drift of the machine between rounds cancels.
    std::vector<double> log_factors;
    std::vector<std::vector<std::array<double, 3>>> handoff_rounds;  // per network: in, hot, MB
    for (size_t i = 0; i < chains.size(); ++i) {
        if (t[i].hot_ms.empty() || t[i].hot_ms[0].empty()) continue;
        const std::vector<double> mb = handoff_mb(*chains[i].whole, p.threads);
        std::vector<double> ratios;
        std::vector<std::array<double, 3>> handoffs;  // per round
        for (size_t r = 0; r < t[i].hot_ms[0].size(); ++r) {
            double in_network = 0, hot = 0;
            std::array<double, 3> h{0, 0, 0};
            for (size_t l = 0; l < t[i].hot_ms.size(); ++l) {
                const double node = t[i].node_ms[l][r], alone = t[i].hot_ms[l][r];
                if (mb[l] > 0) {
                    h = {h[0] + node, h[1] + alone, h[2] + mb[l]};
                } else {
                    in_network += node;
                    hot += alone;
                }
            }
            ratios.push_back(in_network / hot);
            handoffs.push_back(h);
        }
        log_factors.push_back(std::log(std::clamp(median(ratios), 0.2, 5.0)));
        handoff_rounds.push_back(handoffs);
    }
    if (!log_factors.empty()) {
        double sum = 0;
        for (double v : log_factors) sum += v;
        p.hot_network_factor = std::exp(sum / double(log_factors.size()));
    }
    // The rate: per round, what all the networks' hand-off nodes took beyond the factor over
    // their MB; the median of the rounds.
    if (!handoff_rounds.empty()) {
        std::vector<double> handoff_rates;
        for (size_t r = 0; r < handoff_rounds[0].size(); ++r) {
            double extra = 0, mb = 0;
            for (const auto& rounds : handoff_rounds) {
                extra += rounds[r][0] - p.hot_network_factor * rounds[r][1];
                mb += rounds[r][2];
            }
            if (mb > 0) handoff_rates.push_back(extra / mb);
        }
        if (!handoff_rates.empty())
            p.hot_handoff_ms_per_mb = std::clamp(median(handoff_rates), 0.0, 99.0);
    }
}
}  // namespace

void set_network_factors(const std::vector<Chain>& chains, const std::vector<ChainTimings>& t,
                         DeviceProfile& p, std::vector<DeploySample>* samples) {
    struct Timed {
        const Model* model;
        double weights_mb, wall, alone;
        std::vector<double> layers_alone;  // per node
    };
    std::vector<Timed> timed;
    for (size_t i = 0; i < chains.size(); ++i) {
        const Model& m = *chains[i].whole;
        double in_network = 0, alone = 0, predicted = 0;
        std::vector<double> layers_alone;
        std::vector<DeploySample> layer_samples;
        for (size_t l = 0; l < chains[i].layers.size(); ++l) {
            const Model& one = *chains[i].layers[l];
            std::vector<Shape> in(one.graph().nodes[0].inputs.size(), one.graph().input_shape);
            DeploySample s;
            s.features = node_features(one, 0, in);
            s.kind = "network_layer";
            s.config = m.name() + " n" + std::to_string(l) + " " + s.features.kind;
            s.ms = median(t[i].alone_ms[l]);
            s.in_network_ms = median(t[i].node_ms[l]);
            s.predicted_ms = p.predict_ms(s.features);  // (p has no network factor yet)
            in_network += s.in_network_ms;
            alone += s.ms;
            layers_alone.push_back(s.ms);
            predicted += s.predicted_ms;
            layer_samples.push_back(s);
        }
        const double wall = median(t[i].wall_ms);
        timed.push_back({&m, double(m.total_param_bytes()) / 1e6, wall, alone, layers_alone});
        if (samples) {
            DeploySample s;
            s.kind = "network";
            s.config = m.name();
            s.ms = wall;
            s.in_network_ms = in_network;
            s.alone_ms = alone;
            s.predicted_ms = predicted;
            samples->push_back(s);
            samples->insert(samples->end(), layer_samples.begin(), layer_samples.end());
        }
    }
    // Whole runs over the layers alone: the time between layers is part of what a network
    // costs. (Over the fits' predicted sums instead, the factor also carried the fits' errors
    // on this network's particular layers and moved 1.06-1.22 between deploys.) Where the
    // network finds its weights (a private cache, the shared one, memory) predictions price of
    // their own (DeviceProfile::weight_reads_ms), not the factor.
    // On a CPU the widest network (46 MB) does not give a factor: it is too big for its weights
    // to stay cached as they do when a layer runs alone, and calibrates instead how much sooner
    // than a plain read (the memory ladder) a network's weights fall out of the cache. Its
    // factor measured 1.08-1.32 from one deploy to the next on the 2-vCPU machine, as much as
    // the cache's state at the time, and put VGG16, whose weights come from memory anyway,
    // 13-20 % high in the deploys where it was high.
    const size_t widest = size_t(std::max_element(timed.begin(), timed.end(),
                                                  [](const Timed& a, const Timed& b) {
                                                      return a.weights_mb < b.weights_mb;
                                                  }) -
                                 timed.begin());
    set_hot_factors(chains, t, p);
    const bool calibrate = p.device == "cpu" && p.memory.known();
    p.memory.pressure = 1;
    // Twice: the factors depend a little on the pressure (the smaller networks' reads), the
    // pressure on the factors.
    for (int pass = 0; pass < (calibrate ? 2 : 1); ++pass) {
        std::vector<std::pair<double, double>> points;  // (weights MB, factor) per network
        for (size_t i = 0; i < timed.size(); ++i) {
            if (calibrate && i == widest) continue;
            double alone = timed[i].alone;
            for (double ms : p.weight_reads_ms(*timed[i].model, timed[i].layers_alone))
                alone += ms - p.node_overhead_ms;
            points.emplace_back(timed[i].weights_mb, std::clamp(timed[i].wall / alone, 0.2, 5.0));
        }
        p.network_factors = merge_network_points(points);
        double log_sum = 0;
        for (const auto& pt : points) log_sum += std::log(pt.second);
        p.network_factor = std::exp(log_sum / double(points.size()));
        if (calibrate) {
            const Timed& w = timed[widest];
            const double nodes = double(w.model->size());
            p.memory.pressure =
                calibrate_cache_pressure(p, *w.model, w.layers_alone,
                                         w.wall - (w.alone - nodes * p.node_overhead_ms) *
                                                      p.network_factor_for(w.weights_mb));
        }
    }
}

}  // namespace nse
