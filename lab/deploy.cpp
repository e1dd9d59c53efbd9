#include "lab/deploy.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <fstream>
#include <random>

#include "base/stats.h"
#include "base/thread_pool.h"
#include "engine/executor.h"
#include "kernels/cpu/cpu_features.h"
#include "lab/chains.h"
#include "lab/fit.h"
#include "lab/memory_ladder.h"
#include "lab/sweep.h"

namespace nse {

namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kScrubBytes = size_t(2) << 20;    // half the L2 of a core
constexpr size_t kFlushBytes = size_t(128) << 20;  // > the last-level cache a layer sees
constexpr double kChainMinMs = 150;  // of whole runs of a synthetic network, per timing

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
// input is rewritten as the layer before would have just written it (inside a network a layer's
// input sits dirty in one or several cores' caches): see InputWriters. Mixed leaves about
// 1 - 1/threads of any thread's share in other cores' caches.
void scrub_then_touch(ThreadPool& pool, size_t bytes, Tensor& t, InputWriters writers) {
    static std::vector<std::vector<float>> scrub;
    const int threads = pool.size();
    if (int(scrub.size()) < threads) scrub.resize(threads);
    for (auto& s : scrub)
        if (s.size() < bytes / 4) s.resize(bytes / 4);
    volatile float* in = t.data();
    const int64_t n = t.numel();
    constexpr int64_t kBlock = 1024;  // floats
    pool.parallel_for(threads, [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b) {
            for (size_t i = 0; i < bytes / 4; i += 16) scrub[b][i] += 1.f;
            if (writers == InputWriters::Shares)
                for (int64_t i = n * b / threads; i < n * (b + 1) / threads; i += 16) in[i] = in[i];
            if (writers == InputWriters::Mixed)
                for (int64_t i0 = b * kBlock; i0 < n; i0 += threads * kBlock)
                    for (int64_t i = i0; i < std::min(n, i0 + kBlock); i += 16) in[i] = in[i];
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
    return median(std::move(ms));
}

}  // namespace

double median_latency_ms(const std::shared_ptr<const Model>& model, Tensor& input,
                         const std::shared_ptr<ThreadPool>& pool, double min_time_ms,
                         size_t scrub_bytes, int max_runs, const DeviceOptions& device,
                         InputWriters writers) {
    std::unique_ptr<Executor> rt = make_executor(model, device, pool);
    double nodes_s = 0;
    rt->set_node_observer([&](int, double s) { nodes_s += s; });
    rt->run(input);  // plans memory, warms caches
    return repeat_median_ms(
        [&] {
            if (scrub_bytes) scrub_then_touch(*pool, scrub_bytes, input, writers);
            nodes_s = 0;
            rt->run(input);
            return nodes_s * 1e3;
        },
        3, min_time_ms, size_t(std::max(3, max_runs)));
}

namespace {

// Median whole-run latency (ms) after two warm-up runs, repeating until `min_time_ms`.
double whole_latency_ms(const std::shared_ptr<const Model>& model, const Tensor& input,
                        const std::shared_ptr<ThreadPool>& pool, double min_time_ms,
                        const DeviceOptions& device) {
    std::unique_ptr<Executor> rt = make_executor(model, device, pool);
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

// Median time (ms) of each node inside whole runs (the executor's per-node timing), after a
// warm-up run, repeating until `min_time_ms` of whole runs was measured.
std::vector<double> node_latencies_ms(const std::shared_ptr<const Model>& model,
                                      const Tensor& input, const std::shared_ptr<ThreadPool>& pool,
                                      double min_time_ms, const DeviceOptions& device) {
    std::unique_ptr<Executor> rt = make_executor(model, device, pool);
    std::vector<std::vector<double>> per_node(model->size());
    rt->set_node_observer([&](int i, double s) { per_node[i].push_back(s * 1e3); });
    rt->run(input);
    for (auto& v : per_node) v.clear();
    double total = 0;
    for (int runs = 0; runs < 5 || (total < min_time_ms && runs < 1000); ++runs) {
        const auto t0 = Clock::now();
        rt->run(input);
        total += std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    }
    std::vector<double> out;
    for (auto& v : per_node) out.push_back(median(std::move(v)));
    return out;
}

}  // namespace

DeviceProfile deploy_profile(const DeployOptions& options, const DeployProgress& progress,
                             std::vector<DeploySample>* samples_out) {
    NSE_CHECK(options.pool, ErrorCode::InvalidArgument, "deploy_profile: no thread pool given");
    const std::shared_ptr<ThreadPool>& pool = options.pool;
    std::mt19937 rng(options.seed);
    const std::vector<SweepCase> configs = make_configs(options.quick, options.seed);
    std::map<std::string, std::vector<Sample>> by_kind;
    // One layer alone, as the sweep measures it, with the caches as a network leaves them: the
    // layers around it evict the private caches; weights too large to stay in the shared cache
    // between inferences come from memory; an output larger than both cores' L2 caches goes to
    // memory the network last used long ago (so those layers are timed after a flush too); the
    // input lies where the layer before wrote it. Kinds that split their input by planes or flat
    // ranges (not CostKind::blocked_reads) find much of it in another core's cache after a
    // producer that split it by rows or tiles; inputs under kSplitInputMb keep the threads'
    // shares. (docs/split.md: how the caches are set, and the figures behind each choice.)
    // (`input` may hold a batch of images: its first dimension.)
    auto time_layer = [&](const std::shared_ptr<const Model>& model, Tensor& input) {
        const bool cold = model_weights(*model, input.dim(0))[0].measured_cold;
        const bool cpu = options.device.device == Device::Cpu;
        const std::vector<Shape> in(model->graph().nodes[0].inputs.size(),
                                    model->graph().input_shape);
        const bool blocked = model->layer(0).cost(in).kind->blocked_reads;
        const InputWriters writers = blocked || double(input.bytes()) < kSplitInputMb * 1e6
                                         ? InputWriters::Shares
                                         : InputWriters::Mixed;
        return median_latency_ms(model, input, pool, options.min_time_ms,
                                 !cpu   ? 0
                                 : cold ? kFlushBytes
                                        : kScrubBytes,
                                 cold ? 30 : 200, options.device, writers);
    };
    // The synthetic networks for the network factors are timed whole and layer by layer before,
    // at every quarter of and after the layer sweep, so a drift in the machine's speed during
    // the sweep (another tenant, the clock) moves both sides of the ratios alike.
    const std::vector<Chain> chains = chain_models(rng);
    std::vector<Tensor> chain_inputs;
    std::vector<std::vector<Tensor>> layer_inputs(chains.size());
    std::vector<ChainTimings> timings(chains.size());
    for (size_t i = 0; i < chains.size(); ++i) {
        chain_inputs.push_back(random_tensor(chains[i].whole->graph().input_shape, rng));
        for (const auto& layer : chains[i].layers)
            layer_inputs[i].push_back(random_tensor(layer->graph().input_shape, rng));
        timings[i].node_ms.resize(chains[i].layers.size());
        timings[i].alone_ms.resize(chains[i].layers.size());
        timings[i].hot_ms.resize(chains[i].layers.size());
    }
    // Layers and tiny networks that stay in a core's caches are timed hot too (run after run, no
    // scrub; DeviceProfile::hot_kinds).
    const bool hot_fits = options.device.device == Device::Cpu;
    auto time_hot = [&](const std::shared_ptr<const Model>& model, Tensor& input) {
        return median_latency_ms(model, input, pool, options.min_time_ms / 4, 0, 200,
                                 options.device);
    };
    const Chain overhead = overhead_chain(rng);
    Tensor overhead_input = random_tensor(overhead.whole->graph().input_shape, rng);
    std::vector<double> overhead_alone_ms, overhead_node_ms;
    constexpr int kChainRounds = 5;
    // Two stages, each with a total known when it starts: the sweep with the synthetic networks
    // timed before it and at its quarters; then the small layers' second pass and the networks'
    // last round.
    std::string stage = "micro-benchmarks";
    int total = int(configs.size() + (kChainRounds - 1) * chains.size());
    int done = 0;
    auto time_chains = [&] {
        for (size_t i = 0; i < chains.size(); ++i) {
            const double min_ms = options.quick ? 50 : kChainMinMs;
            ChainTimings& t = timings[i];
            t.wall_ms.push_back(
                whole_latency_ms(chains[i].whole, chain_inputs[i], pool, min_ms, options.device));
            const std::vector<double> nodes =
                node_latencies_ms(chains[i].whole, chain_inputs[i], pool, min_ms, options.device);
            const bool hot = hot_fits && hot_network(*chains[i].whole);
            for (size_t l = 0; l < chains[i].layers.size(); ++l) {
                t.node_ms[l].push_back(nodes[l]);
                t.alone_ms[l].push_back(time_layer(chains[i].layers[l], layer_inputs[i][l]));
                if (hot) t.hot_ms[l].push_back(time_hot(chains[i].layers[l], layer_inputs[i][l]));
            }
            if (progress) progress(stage, ++done, total);
        }
        overhead_node_ms.push_back(
            whole_latency_ms(overhead.whole, overhead_input, pool, 20, options.device) /
            kOverheadChainNodes);
        overhead_alone_ms.push_back(time_layer(overhead.layers[0], overhead_input));
    };
    // Layers of a few microseconds measure up to 2x apart at different moments of the sweep
    // (the same 5x5 layer on a 7x7 map: 1.7 and 3.4 us), so those are timed a second time
    // after the sweep and take the mean.
    constexpr double kSecondPassMs = 0.05;
    struct Small {
        size_t sample;
        std::shared_ptr<const Model> model;
        Tensor input;
    };
    std::vector<Small> small;
    std::vector<DeploySample> measured, hot;
    // A quarter second of whole runs first, untimed: a new process's threads can share one core
    // until the scheduler spreads them (tools/cmd_profile.cpp saw 2-thread runs at 1-thread
    // speed for the first 80 ms).
    // (The inverted-residual network: multi-threaded layers, a few ms a run.)
    whole_latency_ms(chains[1].whole, chain_inputs[1], pool, 250, options.device);
    // What the caches and memory do to weights that stay cached or not (about two seconds).
    const MemoryFacts memory =
        options.device.device == Device::Cpu ? measure_memory(*pool) : MemoryFacts{};
    time_chains();
    for (size_t i = 0; i < configs.size(); ++i) {
        if (i > 0 && i % ((configs.size() + 3) / 4) == 0) time_chains();
        const SweepCase& c = configs[i];
        auto model = build(c, rng);
        Tensor input = random_tensor(c.input, rng);
        const double ms = time_layer(model, input);
        std::vector<Shape> in(c.inputs, c.input);
        const NodeFeatures f = node_features(*model, 0, in);
        measured.push_back({f.kind, c.desc, f, ms});
        if (hot_fits && hot_network(*model))
            hot.push_back({kHotPrefix + f.kind, c.desc, f, time_hot(model, input)});
        if (ms < kSecondPassMs) small.push_back({measured.size() - 1, model, std::move(input)});
        // A layer that a batch runs as one batch (Model::batched_from: a classifier's, the
        // layers of large weights on small maps) is timed at a batch too, one in two of them:
        // the latency models then know what N images cost it (weights read once, N times the
        // arithmetic), not only one.
        if (model->batched_from(0, 1) == 0 && rng() % 2 == 0) {
            const int64_t images = std::vector<int64_t>{2, 4, 8, 16}[rng() % 4];
            Shape shape = c.input;
            shape[0] = images;
            Tensor batch = random_tensor(shape, rng);
            const double batch_ms = time_layer(model, batch);
            const NodeFeatures fb = node_features(*model, 0, std::vector<Shape>(c.inputs, shape));
            const std::string desc = c.desc + " x" + std::to_string(images);
            measured.push_back({fb.kind, desc, fb, batch_ms});
            if (hot_fits && hot_network(*model, images))
                hot.push_back({kHotPrefix + fb.kind, desc, fb, time_hot(model, batch)});
            if (batch_ms < kSecondPassMs)
                small.push_back({measured.size() - 1, model, std::move(batch)});
        }
        if (progress) progress(stage, ++done, total);
    }
    stage = "second pass";
    done = 0;
    total = int(small.size() + chains.size());
    for (Small& s : small) {
        double& ms = measured[s.sample].ms;
        ms = 0.5 * (ms + time_layer(s.model, s.input));
        if (progress) progress(stage, ++done, total);
    }
    time_chains();
    for (const DeploySample& s : measured) by_kind[s.kind].push_back({s.features.x, s.ms});
    if (samples_out) samples_out->insert(samples_out->end(), measured.begin(), measured.end());
    DeviceProfile p;
    p.device = device_name(options.device.device);
    p.cpu = cpu_name();
    if (p.device == "cpu") p.cpu_path = cpu_path_name(cpu_path());
    p.threads = pool->size();
    p.engine = std::string("nsengine ") + NSE_VERSION;
    p.created = utc_now();
    p.memory = memory;
    // (On a GPU a node alone is timed without a scrub: nothing to take out.)
    if (options.device.device == Device::Cpu)
        p.node_overhead_ms = std::max(0.0, median(overhead_alone_ms) - median(overhead_node_ms));
    for (const auto& [kind, samples] : by_kind) p.kinds[kind] = fit_kind(samples);
    // A kind this machine never runs (the direct path without AVX-512) costs nothing here.
    for (const std::string& kind : cost_kinds())
        if (!p.kinds.count(kind)) p.kinds[kind].coef.assign(feature_names(kind).size(), 0.0);
    std::map<std::string, std::vector<Sample>> hot_by_kind;
    for (const DeploySample& s : hot) hot_by_kind[s.features.kind].push_back({s.features.x, s.ms});
    // (A kind with few layers small enough keeps the scrubbed fit, as a GPU does for all.)
    for (const auto& [kind, samples] : hot_by_kind)
        if (samples.size() >= 2 * feature_names(kind).size()) p.hot_kinds[kind] = fit_kind(samples);
    if (samples_out) {
        for (DeploySample& s : *samples_out) s.predicted_ms = p.predict_ms(s.features);
        for (DeploySample& s : hot) {
            auto it = p.hot_kinds.find(s.features.kind);
            if (it != p.hot_kinds.end()) s.predicted_ms = it->second.predict_ms(s.features.x);
            samples_out->push_back(s);
        }
    }
    set_network_factors(chains, timings, p, samples_out);
    for (size_t i = 0; i < chains.size(); ++i)
        p.reference_ms[chains[i].whole->name()] = median(timings[i].wall_ms);
    return p;
}

std::map<std::string, double> time_reference_networks(const DeviceProfile& p,
                                                      const DeviceOptions& device,
                                                      const std::shared_ptr<ThreadPool>& pool) {
    std::map<std::string, double> now;
    if (p.reference_ms.empty()) return now;
    std::mt19937 rng(1);  // (the weights' values do not move the times)
    for (const Chain& c : chain_models(rng)) {
        if (!p.reference_ms.count(c.whole->name())) continue;
        const Tensor input = random_tensor(c.whole->graph().input_shape, rng);
        now[c.whole->name()] = whole_latency_ms(c.whole, input, pool, kChainMinMs, device);
    }
    return now;
}

double reference_ratio(const std::map<std::string, double>& then,
                       const std::map<std::string, double>& now) {
    double log_sum = 0;
    int n = 0;
    for (const auto& [name, ms] : now) {
        auto it = then.find(name);
        if (it == then.end() || !(ms > 0) || !(it->second > 0)) continue;
        log_sum += std::log(ms / it->second);
        ++n;
    }
    return n ? std::exp(log_sum / n) : 0.0;
}

}  // namespace nse
