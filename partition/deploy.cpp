#include "partition/deploy.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <fstream>
#include <random>

#include "base/thread_pool.h"
#include "engine/executor.h"
#include "partition/sweep.h"

namespace nse {

namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kScrubBytes = size_t(2) << 20;    // half the L2 of a core
constexpr size_t kFlushBytes = size_t(128) << 20;  // > the last-level cache a layer sees

std::string cpu_name() {
    std::ifstream in("/proc/cpuinfo");
    for (std::string line; std::getline(in, line);)
        if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
    return "unknown";
}

std::string utc_now() {
    char buf[32];
    std::time_t t = std::time(nullptr);
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
    return buf;
}

}  // namespace

namespace {
// Every pool thread writes `bytes` of its own scratch buffer (one float per cache line), so no
// core keeps the layer's weights or its share of the last run in its private cache; then the
// threads rewrite the input in contiguous shares, as the layer before would have just written
// it (inside a network a layer's input sits dirty in several cores' caches).
void scrub_then_touch(size_t bytes, Tensor& t) {
    static std::vector<std::vector<float>> scrub;
    const int threads = num_threads();
    if (int(scrub.size()) < threads) scrub.resize(threads);
    for (auto& s : scrub)
        if (s.size() < bytes / 4) s.resize(bytes / 4);
    volatile float* in = t.data();
    const int64_t n = t.numel();
    parallel_for(threads, [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b) {
            for (size_t i = 0; i < bytes / 4; i += 16) scrub[b][i] += 1.f;
            for (int64_t i = n * b / threads; i < n * (b + 1) / threads; i += 16) in[i] = in[i];
        }
    });
}

// Calls `one_run` (which returns milliseconds) at least `min_runs` times and until `min_time_ms`
// was measured or `max_runs` reached; returns the median.
double repeat_median_ms(const std::function<double()>& one_run, size_t min_runs, double min_time_ms,
                        size_t max_runs) {
    std::vector<double> ms;
    double total = 0;
    while (ms.size() < min_runs || (total < min_time_ms && ms.size() < max_runs)) {
        ms.push_back(one_run());
        total += ms.back();
    }
    std::nth_element(ms.begin(), ms.begin() + ms.size() / 2, ms.end());
    return ms[ms.size() / 2];
}

}  // namespace

double median_latency_ms(const std::shared_ptr<const Model>& model, Tensor& input,
                         double min_time_ms, size_t scrub_bytes, int max_runs,
                         const DeviceOptions& device) {
    std::unique_ptr<Executor> rt = make_executor(model, device);
    double nodes_s = 0;
    rt->set_node_observer([&](int, double s) { nodes_s += s; });
    rt->run(input);  // plans memory, warms caches
    return repeat_median_ms(
        [&] {
            if (scrub_bytes) scrub_then_touch(scrub_bytes, input);
            nodes_s = 0;
            rt->run(input);
            return nodes_s * 1e3;
        },
        3, min_time_ms, size_t(std::max(3, max_runs)));
}

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
    const std::vector<Config>& layers() const { return layers_; }
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
        Config layer("", op, name, shape_);
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
    std::vector<Config> layers_;
};

// A synthetic network, and its layers as single-layer networks.
struct Chain {
    std::shared_ptr<const Model> whole;
    std::vector<std::shared_ptr<const Model>> layers;
};

// Four networks unlike any evaluated one in their shapes: a tiny one whose weights (0.4 MB)
// stay in a core's cache between inferences, inverted residual blocks (1x1 expand, depthwise,
// 1x1 project, add), a plain 3x3 stack with pooling and a residual pair (these two about 6 MB)
// and wide 3x3 layers on 14x14 and 7x7 maps (44 MB).
std::vector<Chain> chain_models(std::mt19937& rng) {
    std::vector<Chain> out;
    auto finish = [&](ChainBuilder& b, const std::string& desc) {
        Chain c;
        for (const Config& layer : b.layers()) c.layers.push_back(build(layer, rng));
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
        // Wide layers on small maps, 44 MB of weights: too many to stay cached between
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
    return out;
}

// Median whole-run latency (ms) after two warm-up runs, repeating until `min_time_ms`.
double whole_latency_ms(const std::shared_ptr<const Model>& model, const Tensor& input,
                        double min_time_ms, const DeviceOptions& device) {
    std::unique_ptr<Executor> rt = make_executor(model, device);
    rt->run(input);
    rt->run(input);
    return repeat_median_ms(
        [&] {
            const auto t0 = Clock::now();
            rt->run(input);
            return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
        },
        5, min_time_ms, 1000);
}

}  // namespace

DeviceProfile deploy_profile(const DeployOptions& options,
                             const std::function<void(int, int)>& progress,
                             std::vector<DeploySample>* samples_out) {
    std::mt19937 rng(options.seed);
    const std::vector<Config> configs = make_configs(options.quick, options.seed);
    std::map<std::string, std::vector<Sample>> by_kind;
    // One layer alone, as the sweep measures it: inside a network the layers around this one
    // evict the private caches; weights too large to stay in the shared cache between
    // inferences come from memory.
    auto time_layer = [&](const std::shared_ptr<const Model>& model, Tensor& input) {
        const bool big_weights = model->total_param_bytes() > kCachedWeightsMb * 1e6;
        const bool cpu = options.device.device == Device::Cpu;
        return median_latency_ms(model, input, options.min_time_ms,
                                 !cpu          ? 0
                                 : big_weights ? kFlushBytes
                                               : kScrubBytes,
                                 big_weights ? 30 : 200, options.device);
    };
    // The synthetic networks for the network factor are timed whole and layer by layer before,
    // at every quarter of and after the layer sweep, so a drift in the machine's speed during
    // the sweep (another tenant, the clock) moves both sides of the ratio alike.
    const std::vector<Chain> chains = chain_models(rng);
    std::vector<Tensor> chain_inputs;
    std::vector<std::vector<Tensor>> layer_inputs(chains.size());
    for (size_t i = 0; i < chains.size(); ++i) {
        chain_inputs.push_back(random_tensor(chains[i].whole->graph().input_shape, rng));
        for (const auto& layer : chains[i].layers)
            layer_inputs[i].push_back(random_tensor(layer->graph().input_shape, rng));
    }
    std::vector<std::vector<double>> whole_ms(chains.size()), alone_ms(chains.size());
    std::vector<std::vector<std::vector<double>>> layer_ms(chains.size());
    for (size_t i = 0; i < chains.size(); ++i) layer_ms[i].resize(chains[i].layers.size());
    constexpr int kChainRounds = 5;
    const int total = int(configs.size() + kChainRounds * chains.size());
    int done = 0;
    auto time_chains = [&] {
        for (size_t i = 0; i < chains.size(); ++i) {
            whole_ms[i].push_back(whole_latency_ms(chains[i].whole, chain_inputs[i],
                                                   options.quick ? 50 : 150, options.device));
            double sum = 0;
            for (size_t l = 0; l < chains[i].layers.size(); ++l) {
                layer_ms[i][l].push_back(time_layer(chains[i].layers[l], layer_inputs[i][l]));
                sum += layer_ms[i][l].back();
            }
            alone_ms[i].push_back(sum);
            if (progress) progress(++done, total);
        }
    };
    time_chains();
    for (size_t i = 0; i < configs.size(); ++i) {
        if (i > 0 && i % ((configs.size() + 3) / 4) == 0) time_chains();
        const Config& c = configs[i];
        auto model = build(c, rng);
        Tensor input = random_tensor(c.input, rng);
        const double ms = time_layer(model, input);
        std::vector<Shape> in(c.inputs, c.input);
        NodeFeatures f = node_features(*model, 0, in);
        by_kind[f.kind].push_back({f.x, ms});
        if (samples_out) samples_out->push_back({f.kind, c.desc, f, ms});
        if (progress) progress(++done, total);
    }
    time_chains();
    DeviceProfile p;
    p.device = device_name(options.device.device);
    p.cpu = cpu_name();
    p.threads = num_threads();
    p.engine = std::string("nsengine ") + NSE_VERSION;
    p.created = utc_now();
    for (const auto& [kind, samples] : by_kind) p.kinds[kind] = fit_kind(samples);
    // A kind this machine never runs (the direct path without AVX-512) costs nothing here.
    for (const std::string& kind : cost_kinds())
        if (!p.kinds.count(kind)) p.kinds[kind].coef.assign(feature_names(kind).size(), 0.0);
    if (samples_out)
        for (DeploySample& s : *samples_out) s.predicted_ms = p.predict_ms(s.features);
    // The network factors: each synthetic network measured whole over its layers measured
    // alone (medians of the rounds), clamped to [0.2, 5] -- what running among other layers
    // costs, free of the fits' errors on this network's particular layers. Three points by
    // weight size: the tiny network's (models that stay in cache), the two 6 MB networks merged
    // (geometric means of size and factor) and the wide one's (weights that do not stay cached).
    auto median = [](std::vector<double> v) {
        std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
        return v[v.size() / 2];
    };
    std::vector<std::pair<double, double>> points;  // (MB, factor) per network
    const DeviceProfile unscaled = p;  // (predict_model would apply the factors found so far)
    for (size_t i = 0; i < chains.size(); ++i) {
        const Model& m = *chains[i].whole;
        const double measured = median(whole_ms[i]), alone = median(alone_ms[i]);
        double predicted = 0;
        for (double v : unscaled.predict_model(m)) predicted += v;
        const double factor = std::clamp(measured / alone, 0.2, 5.0);
        points.emplace_back(double(m.total_param_bytes()) / 1e6, factor);
        if (samples_out) {
            DeploySample s;
            s.kind = "network";
            s.config = m.name();
            s.ms = measured;
            s.alone_ms = alone;
            s.predicted_ms = predicted;
            samples_out->push_back(s);
            for (size_t l = 0; l < chains[i].layers.size(); ++l) {
                const Model& one = *chains[i].layers[l];
                std::vector<Shape> in(one.graph().nodes[0].inputs.size(), one.graph().input_shape);
                DeploySample t;
                t.features = node_features(one, 0, in);
                t.kind = "network_layer";
                t.config = m.name() + " n" + std::to_string(l) + " " + t.features.kind;
                t.ms = median(layer_ms[i][l]);
                t.predicted_ms = p.predict_ms(t.features);
                samples_out->push_back(t);
            }
        }
    }
    auto geomean = [](double a, double b) { return std::sqrt(a * b); };
    p.network_factors = {
        points[0],
        {geomean(points[1].first, points[2].first), geomean(points[1].second, points[2].second)},
        points[3]};
    double log_sum = 0;
    for (const auto& pt : points) log_sum += std::log(pt.second);
    p.network_factor = std::exp(log_sum / double(points.size()));
    return p;
}

}  // namespace nse
