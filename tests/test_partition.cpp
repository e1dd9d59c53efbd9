// Cost-model fit, planner decisions on fixed synthetic profiles, and the bandwidth estimator
// (on a real rate-limited link: test_net.cpp).
#include <random>

#include "partition/bandwidth.h"
#include "partition/planner.h"
#include "tests/model_builder.h"

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
std::vector<Sample> kinked_samples(std::mt19937& rng) {
    std::uniform_real_distribution<double> u(1.0, 100.0);
    std::vector<Sample> samples;
    for (int i = 0; i < 300; ++i) {
        Sample s;
        s.x = {1, u(rng), u(rng)};
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

// A profile where every kind costs `per_mflop` ms per MFLOP plus `base` ms.
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

TEST(Profile, NeighbourPointsTravelAndAreValidated) {
    std::mt19937 rng(5);
    DeviceProfile p = flat_profile(0.1, 0.2);
    p.kinds["add"] = fit_kind(kinked_samples(rng));  // "add" has three features, as the samples
    ASSERT_FALSE(p.kinds["add"].correction.empty());
    DeviceProfile q = DeviceProfile::from_json(p.to_json());
    NodeFeatures f;
    f.kind = "add";
    for (double x1 : {5.0, 55.0, 95.0}) {
        f.x = {1, x1, 30.0};
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

TEST(Bandwidth, MedianOfRecentSamplesFollowsAStepWithinTwo) {
    BandwidthEstimator bw;
    EXPECT_FALSE(bw.has_bandwidth());
    EXPECT_EQ(bw.upload_bytes_per_ms(42), 42);
    for (int i = 0; i < 5; ++i) bw.add_upload(1'000'000, 1.0);  // 1 MB/ms
    bw.add_upload(1'000'000, 100.0);                            // one odd transfer
    EXPECT_DOUBLE_EQ(bw.upload_bytes_per_ms(), 1e6);
    bw.add_upload(1'000'000, 100.0);  // the link really dropped 100x
    EXPECT_DOUBLE_EQ(bw.upload_bytes_per_ms(), 1e4);
    bw.add_upload(100, 1.0);  // too small to time: ignored
    bw.add_upload(1'000'000, 0.0);
    EXPECT_EQ(bw.upload_samples(), 3u);
    bw.add_rtt(2);
    bw.add_rtt(4);
    bw.add_rtt(3);
    EXPECT_DOUBLE_EQ(bw.rtt_ms(), 3);
}

}  // namespace nse::test
