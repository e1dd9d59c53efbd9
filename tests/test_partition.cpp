// Cost-model fit, planner decisions on fixed synthetic profiles, and the bandwidth estimator
// (on a real rate-limited link: test_net.cpp).
#include <map>
#include <random>

#include "lab/chains.h"
#include "lab/deploy.h"
#include "lab/fit.h"
#include "lab/memory_ladder.h"
#include "lab/sweep.h"
#include "partition/memory.h"
#include "partition/planner.h"
#include "partition/speed.h"
#include "tests/model_builder.h"
#include "tests/partition_helpers.h"

namespace nse::test {

TEST(Fit, RecoversKnownNonNegativeCoefficients) {
    std::mt19937 rng(3);
    std::uniform_real_distribution<double> u(0.1, 10.0);
    std::vector<Sample> samples;
    for (int i = 0; i < 200; ++i) {
        Sample s;
        s.x = {1, u(rng), u(rng), u(rng)};
        s.ms = 0.05 + 0.2 * s.x[1] + 0.0 * s.x[2] + 1.5 * s.x[3];
        samples.push_back(s);
    }
    KindFit fit = fit_kind(samples);
    ASSERT_EQ(fit.coef.size(), 4u);
    EXPECT_NEAR(fit.coef[0], 0.05, 1e-3);
    EXPECT_NEAR(fit.coef[1], 0.2, 1e-3);
    EXPECT_NEAR(fit.coef[2], 0.0, 1e-3);
    EXPECT_NEAR(fit.coef[3], 1.5, 1e-3);
    EXPECT_LT(fit.median_rel_error, 1e-3);
}

TEST(Fit, NeverNegativeEvenWhenTheDataWantsIt) {
    std::vector<Sample> samples;
    for (int i = 1; i <= 50; ++i)
        samples.push_back({{1, double(i), double(i % 7)}, 2.0 + i - 0.3 * (i % 7)});
    KindFit fit = fit_kind(samples);
    for (double c : fit.coef) EXPECT_GE(c, 0.0);
    EXPECT_GT(fit.coef[1], 0.5);
}

// Samples from a cost with a region the linear terms cannot express: above x1 = 50 every
// sample costs 1.6x the line (a kernel switching to a slower path).
std::vector<Sample> kinked_samples(std::mt19937& rng, int zero_features = 0) {
    std::uniform_real_distribution<double> u(1.0, 100.0);
    std::vector<Sample> samples;
    for (int i = 0; i < 300; ++i) {
        Sample s;
        s.x = {1, u(rng), u(rng)};
        s.x.resize(s.x.size() + size_t(zero_features), 0.0);
        s.ms = (0.05 + 0.2 * s.x[1] + 0.1 * s.x[2]) * (s.x[1] > 50 ? 1.6 : 1.0);
        samples.push_back(s);
    }
    return samples;
}

TEST(Fit, NeighbourCorrectionLearnsWhatTheLineMisses) {
    std::mt19937 rng(5);
    KindFit fit = fit_kind(kinked_samples(rng));
    ASSERT_FALSE(fit.correction.empty());
    EXPECT_LT(fit.median_rel_error, 0.5 * fit.linear_rel_error);
    // Unseen points on both sides of the kink: the corrected prediction is close, the line is
    // not (it compromises between the two regions).
    for (double x1 : {20.0, 35.0, 70.0, 90.0}) {
        const std::vector<double> x = {1, x1, 40.0};
        const double truth = (0.05 + 0.2 * x1 + 4.0) * (x1 > 50 ? 1.6 : 1.0);
        EXPECT_NEAR(fit.predict_ms(x) / truth, 1.0, 0.1) << "x1 " << x1;
        EXPECT_GT(std::fabs(linear_ms(fit.coef, x) / truth - 1.0), 0.1) << "x1 " << x1;
    }
}

TEST(Fit, NoNeighbourCorrectionWhereTheLineIsRight) {
    std::mt19937 rng(6);
    std::uniform_real_distribution<double> u(1.0, 100.0);
    std::vector<Sample> samples;
    for (int i = 0; i < 100; ++i) {
        Sample s;
        s.x = {1, u(rng)};
        s.ms = 0.05 + 0.2 * s.x[1];
        samples.push_back(s);
    }
    KindFit fit = fit_kind(samples);
    EXPECT_TRUE(fit.correction.empty());
    EXPECT_DOUBLE_EQ(fit.median_rel_error, fit.linear_rel_error);
}

TEST(Fit, NeighbourCorrectionIsBounded) {
    // One far-off point cannot move a prediction by more than 2x either way.
    std::vector<Sample> points = {{{1, 10}, 1000.0}, {{1, 20}, 1e-6}};
    NeighbourCorrection c(points, {0.0, 0.1});
    EXPECT_DOUBLE_EQ(c.factor({1, 10}, 1), 2.0);
    EXPECT_DOUBLE_EQ(c.factor({1, 20}, 0), 0.5);
}

DeviceProfile flat_profile(double base, double per_mflop) {
    DeviceProfile p;
    for (const auto& kind : cost_kinds()) {
        KindFit f;
        f.coef.assign(feature_names(kind).size(), 0.0);
        f.coef[0] = base;
        if (feature_names(kind)[1].rfind("mflop", 0) == 0) f.coef[1] = per_mflop;
        p.kinds[kind] = f;
    }
    return p;
}

TEST(Planner, FollowsTheBandwidth) {
    auto m = small_chain().load("plan_chain.safetensors");
    const int n = m->size();
    DeviceProfile edge = flat_profile(0.01, 5.0), cloud = flat_profile(0.01, 0.01);
    Planner planner(*m, edge, cloud);
    LinkState fast, slow;
    fast.upload_bytes_per_ms = fast.download_bytes_per_ms = 1e9;
    fast.rtt_ms = 0.001;
    slow.upload_bytes_per_ms = slow.download_bytes_per_ms = 1e-3;
    EXPECT_EQ(planner.choose(fast, Objective::Latency), 0);  // edge is slow, link is free
    EXPECT_EQ(planner.choose(slow, Objective::Latency), n);  // nothing may cross the link
    // The choice is the argmin of the estimates, and each estimate adds up.
    for (double bw : {1e-2, 1.0, 30.0, 1e3}) {
        LinkState l;
        l.upload_bytes_per_ms = l.download_bytes_per_ms = bw;
        l.rtt_ms = 0.5;
        l.cloud_backlog_ms = 0.2;
        auto est = planner.estimate(l);
        int best = 0;
        for (const auto& e : est) {
            EXPECT_NEAR(
                e.total_ms,
                e.edge_ms + e.upload_ms + e.rtt_ms + e.cloud_wait_ms + e.cloud_ms + e.download_ms,
                1e-9);
            if (e.total_ms < est[best].total_ms) best = e.cut;
        }
        EXPECT_EQ(planner.choose(l, Objective::Latency), best) << "bandwidth " << bw;
        EXPECT_EQ(est[n].upload_ms + est[n].rtt_ms, 0.0);
    }
}

TEST(Planner, PicksTheSmallCutInBetween) {
    // Cut 2 (after the pool) sends 48 bytes instead of the 200-byte input or the 300-byte conv
    // output; with a slow link and a slow edge it beats both ends.
    auto m = small_chain().load("plan_chain2.safetensors");
    DeviceProfile edge = flat_profile(0.5, 0.0), cloud = flat_profile(0.0, 0.0);
    Planner planner(*m, edge, cloud);
    LinkState l;
    l.upload_bytes_per_ms = l.download_bytes_per_ms = 100;  // 200 B = 2 ms, 48 B = 0.48 ms
    l.rtt_ms = 0.1;
    EXPECT_EQ(m->live_bytes(2), 48u);
    EXPECT_EQ(planner.choose(l, Objective::Latency), 2);
}

TEST(Planner, EnergyObjectiveWeighsThePowers) {
    auto m = small_chain().load("plan_chain3.safetensors");
    const int n = m->size();
    DeviceProfile edge = flat_profile(1.0, 0.0), cloud = flat_profile(3.0, 0.0);
    Planner planner(*m, edge, cloud);
    LinkState l;
    l.upload_bytes_per_ms = l.download_bytes_per_ms = 1e6;
    l.rtt_ms = 0.1;
    // Latency: the edge (1 ms a node) beats the cloud (3 ms a node) -> all on the edge.
    EXPECT_EQ(planner.choose(l, Objective::Latency), n);
    // Energy: waiting idle at 0.3 W costs less than computing at 3 W -> all on the cloud.
    EXPECT_EQ(planner.choose(l, Objective::Energy), 0);
    EXPECT_THROW(parse_objective("speed"), Error);
}

TEST(Profile, JsonRoundTripAndValidation) {
    DeviceProfile p = flat_profile(0.1, 0.2);
    p.threads = 2;
    p.power.transmit_w = 2.5;
    DeviceProfile q = DeviceProfile::from_json(p.to_json());
    EXPECT_EQ(q.threads, 2);
    EXPECT_EQ(q.power.transmit_w, 2.5);
    EXPECT_EQ(q.kinds.at("conv").coef, p.kinds.at("conv").coef);
    // The network factor travels and scales every prediction.
    NodeFeatures f;
    f.kind = "conv";
    f.x.assign(p.kinds.at("conv").coef.size(), 1.0);
    const double plain = p.predict_ms(f);
    p.network_factor = 1.25;
    q = DeviceProfile::from_json(p.to_json());
    EXPECT_DOUBLE_EQ(q.network_factor, 1.25);
    EXPECT_NEAR(q.predict_ms(f), 1.25 * plain, 1e-12);
    p.network_factor = 1.0;
    auto bad = p.to_json();
    bad["network_factor"] = -2.0;
    expect_error([&] { DeviceProfile::from_json(bad); }, "network_factor");
    bad = p.to_json();
    bad["kinds"]["conv"]["coef"] = {1.0};
    expect_error([&] { DeviceProfile::from_json(bad); }, "coefficients");
    // A profile of older kernels whose features differ says so (revision 5 added two to conv).
    bad["kernel_revision"] = kKernelRevision - 1;
    expect_error([&] { DeviceProfile::from_json(bad); }, "run nsengine deploy again");
    bad = p.to_json();
    bad["kinds"]["linear"]["coef"][1] = -1.0;
    expect_error([&] { DeviceProfile::from_json(bad); }, "negative");
    expect_error([] { DeviceProfile::from_json(nlohmann::json::array()); }, "profile");
    bad = p.to_json();
    bad["kinds"].erase("winograd");
    expect_error([&] { DeviceProfile::from_json(bad); }, "no fit for 'winograd'");
    // The kernel revision travels; a profile without it is from before it existed (1).
    EXPECT_EQ(DeviceProfile::from_json(p.to_json()).kernel_revision, kKernelRevision);
    bad = p.to_json();
    bad.erase("kernel_revision");
    EXPECT_EQ(DeviceProfile::from_json(bad).kernel_revision, 1);
    bad["kernel_revision"] = 0;
    expect_error([&] { DeviceProfile::from_json(bad); }, "kernel_revision");
}

TEST(Profile, ReferenceTimesTravelAndGiveTheMachinesSpeedNow) {
    DeviceProfile p = flat_profile(0.1, 0.2);
    EXPECT_TRUE(DeviceProfile::from_json(p.to_json()).reference_ms.empty());
    p.reference_ms = {{"chain-tiny", 0.04}, {"chain-plain", 3.0}};
    EXPECT_EQ(DeviceProfile::from_json(p.to_json()).reference_ms, p.reference_ms);
    for (double v : {0.0, -1.0, 1e9}) {
        auto bad = p.to_json();
        bad["reference_ms"]["chain-plain"] = v;
        expect_error([&] { DeviceProfile::from_json(bad); }, "reference_ms of 'chain-plain'");
    }
    auto bad = p.to_json();
    bad["reference_ms"] = {1, 2};
    expect_error([&] { DeviceProfile::from_json(bad); }, "profile");
    // Geometric mean of now / then over the networks timed both times.
    EXPECT_NEAR(reference_ratio(p.reference_ms, {{"chain-tiny", 0.08}, {"chain-plain", 1.5}}), 1.0,
                1e-12);
    EXPECT_NEAR(reference_ratio(p.reference_ms,
                                {{"chain-tiny", 0.05}, {"chain-plain", 3.75}, {"other", 9.0}}),
                1.25, 1e-12);
    EXPECT_EQ(reference_ratio(p.reference_ms, {{"other", 9.0}}), 0.0);
    EXPECT_EQ(reference_ratio({}, {{"chain-tiny", 0.05}}), 0.0);
}

TEST(Profile, NeighbourPointsTravelAndAreValidated) {
    std::mt19937 rng(5);
    DeviceProfile p = flat_profile(0.1, 0.2);
    p.kinds["add"] = fit_kind(kinked_samples(rng, 1));  // "add" has four features (the last 0)
    ASSERT_FALSE(p.kinds["add"].correction.empty());
    DeviceProfile q = DeviceProfile::from_json(p.to_json());
    NodeFeatures f;
    f.kind = "add";
    for (double x1 : {5.0, 55.0, 95.0}) {
        f.x = {1, x1, 30.0, 0.0};
        EXPECT_DOUBLE_EQ(q.predict_ms(f), p.predict_ms(f));
    }
    auto bad = p.to_json();
    bad["kinds"]["add"]["neighbour_points"][3] = {1.0, 2.0};
    expect_error([&] { DeviceProfile::from_json(bad); }, "neighbour point has 2 numbers");
    bad = p.to_json();
    bad["kinds"]["add"]["neighbour_points"][0][2] = -1.0;
    expect_error([&] { DeviceProfile::from_json(bad); }, "negative or non-finite");
    bad = p.to_json();
    bad["kinds"]["add"]["neighbour_points"][0][0] = 0.0;
    expect_error([&] { DeviceProfile::from_json(bad); }, "zero time");
    bad = p.to_json();
    bad["kinds"]["add"]["neighbour_points"] = "many";
    expect_error([&] { DeviceProfile::from_json(bad); }, "profile");
}

// A ladder like the 2-vCPU machine's: private caches to 4 MB, the shared cache to 64 MB, memory.
MemoryFacts two_core_ladder() {
    return memory_facts(
        {{0.25, 160}, {1, 150}, {4, 90}, {8, 55}, {16, 52}, {64, 50}, {128, 30}, {512, 20}}, 2);
}

TEST(Memory, FactsFromAReadLadder) {
    const MemoryFacts f = two_core_ladder();
    EXPECT_EQ(f.cache_gbps, 55);  // the fastest from 4 MB a thread up
    EXPECT_EQ(f.memory_gbps, 20);
    EXPECT_EQ(f.cache_mb, 64);  // the last at least halfway (37.5) from memory's rate
    EXPECT_EQ(f.cold_mb, 512);  // the first within 10 % of memory's rate, and all beyond
    EXPECT_EQ(memory_facts({{8, 55}, {64, 21}, {128, 30}, {256, 20}, {512, 20}}, 2).cold_mb, 256);
    // One disturbed read among the largest buffers does not set memory's rate, and is raised to it.
    const MemoryFacts g =
        memory_facts({{8, 55}, {64, 50}, {128, 25}, {256, 20}, {362, 21}, {512, 10}}, 2);
    EXPECT_EQ(g.memory_gbps, 20);
    EXPECT_EQ(g.read_gbps.back().second, 20);
    EXPECT_EQ(g.gbps_at(1000), 20);
    EXPECT_EQ(f.gbps_at(0.01), 160);
    EXPECT_EQ(f.gbps_at(4000), 20);
    EXPECT_NEAR(f.gbps_at(std::sqrt(8.0 * 16.0)), 53.5, 1e-9);  // halfway in log size
    // One thread: 4 MB is beyond its private cache.
    EXPECT_EQ(memory_facts(two_core_ladder().read_gbps, 1).cache_gbps, 90);
    expect_error([] { memory_facts({{1, 10}}, 1); }, "at least two");
    expect_error([] { memory_facts({{2, 10}, {1, 10}}, 1); }, "ascending");
    expect_error([] { memory_facts({{1, 10}, {2, -1}}, 1); }, "positive");
}

TEST(Memory, MeasuredLadderIsOrderedAndPositive) {
    const MemoryFacts f = measure_memory(test_pool(), 2);
    ASSERT_EQ(f.read_gbps.size(), 9u);  // 1/8 MB to 2 MB in steps of sqrt(2)
    EXPECT_DOUBLE_EQ(f.read_gbps.front().first, 0.125);
    EXPECT_DOUBLE_EQ(f.read_gbps.back().first, 2);
    for (const auto& [mb, gbps] : f.read_gbps) EXPECT_TRUE(gbps > 0 && std::isfinite(gbps)) << mb;
}

std::shared_ptr<const Model> weight_reads_model() {
    ModelBuilder b({1, 1, 1100, 1000});
    b.node("conv", "conv2d", {"input"}, {{"padding", 1}}, {"conv.weight", "conv.bias"})
        .weight("conv.weight", {1, 1, 3, 3})
        .weight("conv.bias", {1})
        .node("pool", "adaptive_avg_pool2d", {"conv"}, {{"output_size", 40}})
        .node("flat", "flatten", {"pool"})
        .node("fc", "linear", {"flat"}, {}, {"fc.weight", "fc.bias"})
        .weight("fc.weight", {50, 1600})
        .weight("fc.bias", {50})
        .output("fc");
    return b.load("weight_reads.safetensors");
}

TEST(Memory, WeightReadsArePricedWhereTheNetworkFindsThem) {
    auto m = weight_reads_model();
    const std::vector<NodeWeights> w = model_weights(*m);
    EXPECT_TRUE(w[0].measured_cold);
    EXPECT_FALSE(w[3].measured_cold);
    EXPECT_NEAR(w[3].read_mb, (50 * 1600 + 50) * 4 / 1e6, 1e-12);
    DeviceProfile p = flat_profile(0.01, 0.001);
    p.kinds[model_features(*m)[0].kind].coef[0] = 0.5;  // longer than its output's write
    const std::vector<double> plain = p.predict_model(*m);
    // Unknown memory (older profiles): no term.
    for (double ms : p.weight_reads_ms(*m, plain)) EXPECT_EQ(ms, 0);
    for (double ms : p.output_writes_ms(*m, plain)) EXPECT_EQ(ms, 0);
    // 0.32 MB in all: the weights come from the private caches, faster than in the sweep.
    p.memory = two_core_ladder();
    double total_mb = 0;
    for (const NodeWeights& n : w) total_mb += n.read_mb;
    std::vector<double> reads = p.weight_reads_ms(*m, plain);
    EXPECT_EQ(reads[0], 0);  // measured cold already
    EXPECT_NEAR(reads[3], w[3].read_mb * (1 / p.memory.gbps_at(total_mb) - 1 / 55.0), 1e-12);
    EXPECT_LT(reads[3], 0);
    std::vector<double> pred = p.predict_model(*m);
    EXPECT_NEAR(pred[3], std::max(plain[3] + reads[3], 0.5 * plain[3]), 1e-12);
    // The conv's 4.4 MB output, written to memory in the sweep, stays in this cached network's
    // cache: of its measured time, what is left after the write at memory's rate, and the
    // write at the cache's.
    const double out_mb = 1100 * 1000 * 4 / 1e6;
    const double compute = plain[0] - out_mb / p.memory.memory_gbps;
    const double cached = std::hypot(compute, 2 * out_mb / p.memory.gbps_at(total_mb));
    EXPECT_NEAR(p.output_writes_ms(*m, plain)[0], cached - plain[0], 1e-12);
    EXPECT_LT(p.output_writes_ms(*m, plain)[0], 0);
    EXPECT_EQ(p.output_writes_ms(*m, plain)[3], 0);  // a small output: measured cached
    EXPECT_NEAR(pred[0], cached, 1e-12);
    // Under a cache pressure that makes its 0.32 MB read as 64 MB would, on a machine whose
    // cache holds 8 MB: its weights come from memory, and the layer pays what its own time does
    // not hide of the slower read.
    p.memory = memory_facts({{0.25, 160}, {8, 55}, {16, 20}, {512, 20}}, 2);
    p.memory.pressure = 64 / total_mb;
    reads = p.weight_reads_ms(*m, plain);
    EXPECT_GT(reads[3], 0);
    EXPECT_NEAR(p.predict_model(*m)[3], plain[3] + reads[3], 1e-12);
    // Everything read at memory's rate: outputs are written there as in the sweep.
    EXPECT_EQ(p.output_writes_ms(*m, plain)[0], 0);
    EXPECT_EQ(p.predict_model(*m)[0], plain[0]);
    const double mb = w[3].read_mb, from_memory = mb / p.memory.gbps_at(64),
                 from_cache = mb / p.memory.cache_gbps;
    ASSERT_GT(from_memory, from_cache);
    std::vector<double> times(plain.size(), 0.0);
    EXPECT_NEAR(p.weight_reads_ms(*m, times)[3], from_memory - from_cache, 1e-12);  // all of it
    times[3] = 100 * from_memory;  // a long layer hides almost all of it
    EXPECT_LT(p.weight_reads_ms(*m, times)[3], 0.01 * (from_memory - from_cache));
    times[3] = from_memory;  // as long as the read: the smooth maximum
    EXPECT_NEAR(p.weight_reads_ms(*m, times)[3],
                std::sqrt(2.0) * from_memory - std::hypot(from_memory, from_cache), 1e-12);
    expect_error([&] { p.weight_reads_ms(*m, {1.0}); }, "one time per node");
    // The facts travel in the profile; a GPU profile has no such term.
    DeviceProfile q = DeviceProfile::from_json(p.to_json());
    EXPECT_EQ(q.memory.read_gbps, p.memory.read_gbps);
    EXPECT_EQ(q.weight_reads_ms(*m, plain), reads);
    auto bad = p.to_json();
    bad["memory"]["read_gbps"][1] = {0.001, 5.0};
    expect_error([&] { DeviceProfile::from_json(bad); }, "ascending");
    q.device = "cuda";
    for (double ms : q.weight_reads_ms(*m, plain)) EXPECT_EQ(ms, 0);
    bad = p.to_json();
    bad["memory"]["cache_pressure"] = 0.5;
    expect_error([&] { DeviceProfile::from_json(bad); }, "cache_pressure");
}

TEST(Memory, LayersThatOnlyMoveDataPayForOutputsInMemory) {
    auto m = weight_reads_model();  // conv (measured cold), pool, flatten, linear
    const std::vector<NodeFeatures> f = model_features(*m);
    ASSERT_TRUE(moves_data(f[1].kind));
    ASSERT_FALSE(moves_data(f[3].kind));
    DeviceProfile p = flat_profile(0.01, 0.001);
    const std::vector<double> plain = p.predict_model(*m);
    for (double ms : p.cold_outputs_ms(*m, f, plain)) EXPECT_EQ(ms, 0);  // memory unknown
    // A network that stays cached: the pool's output is written to the cache, as in the sweep.
    p.memory = two_core_ladder();
    for (double ms : p.cold_outputs_ms(*m, f, plain)) EXPECT_EQ(ms, 0);
    // Its weights read at memory's rate: the pool's output lines come from memory too; the
    // conv was measured so, and the linear layer computes.
    p.memory = memory_facts({{0.25, 160}, {8, 55}, {16, 20}, {512, 20}}, 2);
    p.memory.pressure = 1e4;
    const std::vector<double> cold = p.cold_outputs_ms(*m, f, plain);
    const double out_mb = 40 * 40 * 4 / 1e6;
    EXPECT_NEAR(cold[1], out_mb * (1 / 20.0 - 1 / 55.0), 1e-12);
    EXPECT_EQ(cold[0], 0);
    EXPECT_EQ(cold[3], 0);
    EXPECT_NEAR(p.predict_model(*m)[1], plain[1] + cold[1], 1e-12);
}
TEST(Profile, NodeOverheadComesOffEveryNode) {
    auto m = small_chain().load("overhead_chain.safetensors");
    DeviceProfile p = flat_profile(0.01, 0.001);
    const std::vector<double> plain = p.predict_model(*m);
    p.node_overhead_ms = 0.004;
    const DeviceProfile q = DeviceProfile::from_json(p.to_json());
    EXPECT_EQ(q.node_overhead_ms, 0.004);
    const std::vector<double> less = q.predict_model(*m);
    for (size_t i = 0; i < plain.size(); ++i)
        EXPECT_NEAR(less[i], std::max(plain[i] - 0.004, kMinNodeMs), 1e-12) << i;
    // Never below the floor.
    p.node_overhead_ms = 0.5;
    for (double ms : p.predict_model(*m)) EXPECT_EQ(ms, kMinNodeMs);
    auto bad = p.to_json();
    bad["node_overhead_ms"] = -0.1;
    expect_error([&] { DeviceProfile::from_json(bad); }, "node_overhead_ms");
}

// A convolution of 1.3 MFLOP (split over the pool) between the graph's input and a pool taking
// 16 x 576 values (on the calling thread), then a flatten (calling thread).
std::shared_ptr<const Model> handoff_model() {
    ModelBuilder b({1, 8, 24, 24});
    b.node("conv", "conv2d", {"input"}, {{"padding", 1}}, {"conv.weight", "conv.bias"})
        .weight("conv.weight", {16, 8, 3, 3})
        .weight("conv.bias", {16})
        .node("pool", "max_pool2d", {"conv"}, {{"kernel_size", 2}})
        .node("flat", "flatten", {"pool"})
        .output("flat");
    return b.load("handoff.safetensors");
}

TEST(Profile, NetworksWithinACoresCachesTakeTheHotFits) {
    auto tiny = small_chain().load("hot_chain.safetensors");
    // Weights (3x2x3x3 + 3 + 4x12 + 4 floats) and the conv's input and output (2x5x5 + 3x5x5).
    EXPECT_NEAR(working_set_mb(*tiny), (54 + 3 + 48 + 4 + 50 + 75) * 4 / 1e6, 1e-12);
    EXPECT_TRUE(hot_network(*tiny));
    ModelBuilder wide({1, 3, 10, 10});  // a 1.2 MB fully connected layer after the pool
    wide.node("pool", "max_pool2d", {"input"}, {{"kernel_size", 2}})
        .node("flat", "flatten", {"pool"})
        .node("fc", "linear", {"flat"}, {}, {"fc.weight", "fc.bias"})
        .weight("fc.weight", {4000, 75})
        .weight("fc.bias", {4000})
        .output("fc");
    auto big = wide.load("hot_wide.safetensors");
    EXPECT_FALSE(hot_network(*big));

    DeviceProfile p = flat_profile(0.01, 0.001);
    const std::vector<double> tiny_plain = p.predict_model(*tiny),
                              big_plain = p.predict_model(*big);
    KindFit pool;
    pool.coef.assign(feature_names("max_pool").size(), 0.0);
    pool.coef[0] = 0.002;
    p.hot_kinds["max_pool"] = pool;
    // Without a hot factor (a GPU profile) the hot fits are not used.
    EXPECT_EQ(p.predict_model(*tiny), tiny_plain);
    p.hot_network_factor = 1.5;
    const DeviceProfile q = DeviceProfile::from_json(p.to_json());
    EXPECT_EQ(q.hot_network_factor, 1.5);
    const std::vector<double> hot = q.predict_model(*tiny);
    for (int i = 0; i < tiny->size(); ++i)
        EXPECT_NEAR(hot[i], tiny->node(i).op == "max_pool2d" ? 0.003 : tiny_plain[i], 1e-12) << i;
    EXPECT_EQ(q.predict_model(*big), big_plain);  // too big to stay in a core's caches
    // What a node reads from another core is priced where the model hands data over: the
    // tiny chain's convolution runs on the calling thread, so at 2 threads nothing changes;
    // in the hand-off model the pool reads the output of a convolution split over the pool.
    p.hot_handoff_ms_per_mb = 0.5;
    p.threads = 2;
    const DeviceProfile r = DeviceProfile::from_json(p.to_json());
    EXPECT_EQ(r.hot_handoff_ms_per_mb, 0.5);
    EXPECT_EQ(r.predict_model(*tiny), hot);
    auto handoff = handoff_model();
    ASSERT_TRUE(hot_network(*handoff));
    const std::vector<double> mb = handoff_mb(*handoff, 2);
    ASSERT_GT(mb[1], 0);
    EXPECT_NEAR(r.predict_model(*handoff)[1], 0.002 * 1.5 + 0.5 * mb[1], 1e-12);

    auto bad = p.to_json();
    bad["hot_network_factor"] = -1.0;
    expect_error([&] { DeviceProfile::from_json(bad); }, "hot_network_factor");
    bad = p.to_json();
    bad["hot_kinds"]["max_pool"]["coef"] = {1.0};
    expect_error([&] { DeviceProfile::from_json(bad); }, "hot kind 'max_pool' has 1 coefficients");
    bad = p.to_json();
    bad["hot_kinds"]["teleport"] = bad["hot_kinds"]["max_pool"];
    expect_error([&] { DeviceProfile::from_json(bad); }, "not a kind of the profile");
    bad = p.to_json();
    bad["hot_handoff_ms_per_mb"] = -0.5;
    expect_error([&] { DeviceProfile::from_json(bad); }, "hot_handoff_ms_per_mb");
}

TEST(Features, HandOffsBetweenTheCallingThreadAndThePool) {
    auto m = handoff_model();
    const std::vector<double> two = handoff_mb(*m, 2);
    EXPECT_NEAR(two[0], 8 * 24 * 24 * 4 / 1e6, 1e-12);   // the input, written by the caller
    EXPECT_NEAR(two[1], 16 * 24 * 24 * 4 / 1e6, 1e-12);  // the convolution's output
    EXPECT_EQ(two[2], 0);                                // pool and flatten: the same thread
    for (double mb : handoff_mb(*m, 1)) EXPECT_EQ(mb, 0);
}

TEST(Deploy, HotFactorAndHandOffRateFromTheTinyNetworks) {
    std::mt19937 rng(3);
    const std::vector<Chain> chains = chain_models(rng);
    // The tiny networks' layers take 0.2 ms hot (run after run) and 1.1x that inside the whole
    // runs, plus 0.05 ms per MB they read from another core at 2 threads; the others' layers
    // 0.1 ms alone and in the network.
    const double factor = 1.1, rate = 0.05;
    std::vector<ChainTimings> t(chains.size());
    int hot_networks = 0;
    for (size_t i = 0; i < chains.size(); ++i) {
        const size_t n = chains[i].layers.size();
        const bool hot = hot_network(*chains[i].whole);
        const std::vector<double> mb = handoff_mb(*chains[i].whole, 2);
        t[i].wall_ms = {2.0};
        t[i].alone_ms.assign(n, {0.1});
        t[i].node_ms.assign(n, {0.1});
        t[i].hot_ms.assign(n, hot ? std::vector<double>{0.2} : std::vector<double>{});
        for (size_t l = 0; hot && l < n; ++l) t[i].node_ms[l] = {factor * 0.2 + rate * mb[l]};
        hot_networks += hot;
    }
    ASSERT_EQ(hot_networks, 2);  // the two tiny networks
    DeviceProfile p = flat_profile(0.01, 0.001);
    p.threads = 2;
    set_network_factors(chains, t, p, nullptr);
    EXPECT_EQ(p.hot_network_factor, 0);  // no hot fits: no hot factor
    p.hot_kinds["max_pool"] = p.kinds["max_pool"];
    set_network_factors(chains, t, p, nullptr);
    EXPECT_NEAR(p.hot_network_factor, factor, 1e-12);
    EXPECT_NEAR(p.hot_handoff_ms_per_mb, rate, 1e-9);
}

TEST(Memory, PressureCalibratedToANetworksExtraTime) {
    auto m = weight_reads_model();
    DeviceProfile p = flat_profile(0.01, 0.001);
    p.memory = two_core_ladder();
    double read_mb = 0;
    for (const NodeWeights& w : model_weights(*m)) read_mb += w.read_mb;
    const std::vector<double> alone = p.predict_model(*m);
    auto term = [&](double k) {
        DeviceProfile q = p;
        q.memory.pressure = k;
        double ms = 0;
        for (double v : q.weight_reads_ms(*m, alone)) ms += v;
        return ms;
    };
    // 0.32 MB read faster than the cache's rate: no extra time means the pressure at which the
    // ladder reads at the cache's rate (55 GB/s, at 8 MB).
    double k = calibrate_cache_pressure(p, *m, alone, 0.0);
    EXPECT_NEAR(k * read_mb, 8, 1e-3);
    EXPECT_NEAR(term(k), 0, 1e-6);
    // Some time beyond that: found where the term adds up to it.
    const double half_of_memory = 0.5 * term(512 / read_mb);
    k = calibrate_cache_pressure(p, *m, alone, half_of_memory);
    EXPECT_NEAR(term(k), half_of_memory, 1e-6);
    EXPECT_GT(k * read_mb, 64);
    EXPECT_LT(k * read_mb, 512);
    // Less than the plain read already explains: no pressure; more than memory explains: where
    // the model's weights are read at memory's rate.
    EXPECT_EQ(calibrate_cache_pressure(p, *m, alone, -1.0), 1);
    EXPECT_DOUBLE_EQ(calibrate_cache_pressure(p, *m, alone, 10.0), 512 / read_mb);
    p.memory = memory_facts({{0.25, 160}, {8, 55}, {64, 50}, {128, 21}, {512, 20}}, 2);
    EXPECT_DOUBLE_EQ(calibrate_cache_pressure(p, *m, alone, 10.0), 128 / read_mb);
    p.memory = {};
    EXPECT_EQ(calibrate_cache_pressure(p, *m, alone, 10.0), 1);
}

TEST(Deploy, NetworkPointsOfSimilarSizeMerge) {
    const auto merged =
        merge_network_points({{6.3, 1.21}, {0.42, 1.1}, {46, 1.2}, {0.37, 0.9}, {6.2, 1.0}});
    ASSERT_EQ(merged.size(), 3u);
    EXPECT_NEAR(merged[0].first, std::sqrt(0.42 * 0.37), 1e-12);
    EXPECT_NEAR(merged[0].second, std::sqrt(1.1 * 0.9), 1e-12);
    EXPECT_NEAR(merged[1].first, std::sqrt(6.3 * 6.2), 1e-12);
    EXPECT_NEAR(merged[1].second, 1.1, 1e-12);
    EXPECT_EQ(merged[2], std::make_pair(46.0, 1.2));
    EXPECT_TRUE(merge_network_points({}).empty());
}

TEST(Deploy, EachKindIsTimedAllThroughTheSweep) {
    // The machine's speed drifts over the two minutes of a sweep: a kind timed in one stretch
    // would take that stretch's speed into its fit. Every kind with enough layers has close to
    // a quarter of them in each quarter of the sweep; the order is the seed's (deploys repeat).
    // (The kinds and their counts differ by CPU path: direct convolution is AVX-512's only.)
    const std::vector<SweepCase> configs = make_configs(false, 7);
    std::map<std::string, std::vector<int>> quarters;
    for (size_t i = 0; i < configs.size(); ++i) {
        auto& q = quarters[configs[i].kind];
        q.resize(4, 0);
        ++q[4 * i / configs.size()];
    }
    for (const auto& [kind, q] : quarters) {
        const int n = q[0] + q[1] + q[2] + q[3];
        if (n < 40) continue;
        for (int count : q) EXPECT_GE(count, n / 6) << kind;
    }
    const std::vector<SweepCase> again = make_configs(false, 7);
    ASSERT_EQ(again.size(), configs.size());
    for (size_t i = 0; i < configs.size(); ++i) EXPECT_EQ(again[i].desc, configs[i].desc);
}

TEST(Speed, MedianRatioOfRecentRequestsFollowsAStepWithinThree) {
    using Clock = SpeedTracker::Clock;
    const Clock::time_point t0{};
    SpeedTracker s;
    EXPECT_EQ(s.factor(t0), 1);
    s.add(30, 10, t0);  // a cold (or loaded) first request counts at once
    EXPECT_DOUBLE_EQ(s.factor(t0), 3);
    s.add(10, 10, t0);
    EXPECT_DOUBLE_EQ(s.factor(t0), 2);
    s.add(11, 10, t0);
    EXPECT_DOUBLE_EQ(s.factor(t0), 1.1);  // the cold one is outvoted by the third
    s.add(10, 10, t0);
    s.add(10, 10, t0);
    EXPECT_DOUBLE_EQ(s.factor(t0), 1);
    // The device slows down 2x: followed on the third slow request, not before.
    s.add(20, 10, t0);
    s.add(20, 10, t0);
    EXPECT_DOUBLE_EQ(s.factor(t0), 1.1);
    s.add(20, 10, t0);
    EXPECT_DOUBLE_EQ(s.factor(t0), 2);
    // Too short to time, or nonsense: ignored.
    s.add(5, 0.01, t0);
    s.add(-1, 10, t0);
    s.add(std::nan(""), 10, t0);
    EXPECT_DOUBLE_EQ(s.factor(t0), 2);
    // Clamped to [1/64, 64].
    for (int i = 0; i < 5; ++i) s.add(1000, 10, t0);
    EXPECT_DOUBLE_EQ(s.factor(t0), 64);
    // Old samples expire: a side left unused is trusted again.
    EXPECT_EQ(s.factor(t0 + SpeedTracker::kMaxAge + std::chrono::seconds(1)), 1);
}

TEST(Planner, ScalesEachSideByHowFastItRunsNow) {
    auto m = small_chain().load("plan_scale.safetensors");
    const int n = m->size();
    DeviceProfile edge = flat_profile(0.5, 0.0), cloud = flat_profile(0.4, 0.0);
    Planner planner(*m, edge, cloud);
    LinkState link;
    link.upload_bytes_per_ms = link.download_bytes_per_ms = 1e9;
    link.rtt_ms = 0.5;
    link.cloud_backlog_ms = 1;
    // As profiled the edge is faster than paying the round trip: everything stays.
    EXPECT_EQ(planner.choose(link, Objective::Latency), n);
    const std::vector<CutEstimate> plain = planner.estimate(link);
    link.edge_scale = 3;
    link.cloud_scale = 0.5;
    const std::vector<CutEstimate> scaled = planner.estimate(link);
    for (int k = 0; k <= n; ++k) {
        EXPECT_NEAR(scaled[k].edge_ms, 3 * planner.prefix_ms(k), 1e-12);
        EXPECT_NEAR(scaled[k].cloud_ms, 0.5 * planner.suffix_ms(k), 1e-12);
        if (k < n) {
            EXPECT_NEAR(scaled[k].cloud_wait_ms, 0.5, 1e-12);
        }
        EXPECT_NEAR(plain[k].edge_ms, planner.prefix_ms(k), 1e-12);
    }
    // The edge now three times slower, the cloud twice as fast: all goes to the cloud.
    EXPECT_EQ(planner.choose(link, Objective::Latency), 0);
}

// The planner prices each cut's upload through the bucket: what is left of the burst (plus what
// refills while the edge computes the prefix) goes at the peak rate, the rest at the sustained one.
TEST(Planner, PricesTheUploadThroughTheBucket) {
    auto m = small_chain().load("plan_chain.safetensors");
    DeviceProfile edge = flat_profile(0.01, 5.0), cloud = flat_profile(0.01, 0.01);
    Planner planner(*m, edge, cloud);
    LinkState plain;
    plain.upload_bytes_per_ms = plain.download_bytes_per_ms = 10;
    LinkState bucket = plain;
    bucket.burst_bytes = 1e9;
    bucket.burst_available_bytes = 1000;
    bucket.peak_bytes_per_ms = 1e4;
    const auto a = planner.estimate(plain), b = planner.estimate(bucket);
    for (size_t k = 0; k + 1 < a.size(); ++k) {
        const double bytes = double(a[k].live_bytes);
        const double tokens = std::min(1e9, 1000 + 10 * b[k].edge_ms);
        const double fast = std::min(bytes, tokens);
        EXPECT_NEAR(a[k].upload_ms, bytes / 10, 1e-9);
        EXPECT_NEAR(b[k].upload_ms, fast / 1e4 + (bytes - fast) / 10, 1e-9) << k;
        EXPECT_LE(b[k].upload_ms, a[k].upload_ms);
    }
}

}  // namespace nse::test
