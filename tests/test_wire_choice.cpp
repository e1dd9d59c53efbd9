// Choosing the cut and its encoding together: the planner's arithmetic, which encodings a policy
// and a calibration allow where, the calibration file, and the ratios learnt from requests.
#include "net/wire_choice.h"
#include "partition/split_controller.h"
#include "tests/model_builder.h"
#include "tests/partition_helpers.h"

namespace nse::test {

using namespace net;

namespace {
// Every kind costs `ms` a node.
DeviceProfile constant_profile(double ms) { return flat_profile(ms, 0); }

WireOption option(const std::string& name, double ratio, int cuts, double encode_ns = 0,
                  double decode_ns = 0) {
    WireOption o;
    o.name = name;
    o.encode_ns = encode_ns;
    o.decode_ns = decode_ns;
    o.ratio.assign(size_t(cuts), ratio);
    return o;
}

LinkState slow_link() {
    LinkState l;
    l.upload_bytes_per_ms = l.download_bytes_per_ms = 10;  // the 200-byte input: 20 ms
    l.rtt_ms = 0.1;
    return l;
}
}  // namespace

TEST(WirePlanner, ChoosesTheEncodingWithTheCutAndAddsItsCosts) {
    auto m = small_chain().load("wire_chain.safetensors");
    const int n = m->size();
    // A slow edge: everything wants to go to the cloud at once, as few bytes as can be.
    DeviceProfile edge = constant_profile(5), cloud = constant_profile(0.01);
    Planner planner(*m, edge, cloud);
    const std::vector<WireOption> wires = {option("fp32", 1, n), option("int8", 0.3, n, 1000, 500)};
    const auto est = planner.estimate(slow_link(), wires);
    EXPECT_EQ(planner.choose(slow_link(), Objective::Latency, wires), 0);
    EXPECT_EQ(est[0].wire, "int8");
    EXPECT_DOUBLE_EQ(est[0].wire_bytes, 200 * 0.3);
    EXPECT_NEAR(est[0].encode_ms, 1000e-6 * 50, 1e-12);  // 50 values
    EXPECT_NEAR(est[0].decode_ms, 500e-6 * 50, 1e-12);
    for (const auto& e : est)
        EXPECT_NEAR(e.total_ms,
                    e.edge_ms + e.encode_ms + e.upload_ms + e.rtt_ms + e.cloud_wait_ms +
                        e.decode_ms + e.cloud_ms + e.download_ms,
                    1e-9);
    // An encoder slower than what it saves loses to fp32.
    const std::vector<WireOption> slow = {option("fp32", 1, n),
                                          option("int8+zstd", 0.1, n, 2e6, 0)};
    EXPECT_EQ(planner.estimate(slow_link(), slow)[0].wire, "fp32");
    // Where no option may carry a cut, it is never chosen (its estimate is infinite).
    std::vector<WireOption> only = {option("int8", 0.3, n)};
    only[0].ratio[0] = 0;
    const auto e2 = planner.estimate(slow_link(), only);
    EXPECT_TRUE(std::isinf(e2[0].total_ms));
    EXPECT_NE(planner.choose(slow_link(), Objective::Latency, only), 0);
}

TEST(WirePlanner, PolicyAndCalibrationDecideWhereALossyEncodingMayGo) {
    auto m = small_chain().load("wire_chain2.safetensors");
    const int n = m->size();
    DeviceProfile edge = constant_profile(1), cloud = constant_profile(1);
    edge.wire["int8"] = {3, 4};
    cloud.wire["int8"] = {5, 6};
    auto names = [](const std::vector<WireOption>& v) {
        std::vector<std::string> s;
        for (const auto& o : v) s.push_back(o.name);
        return s;
    };
    // Without a calibration, auto sends fp32: nothing says what a lossy one does to the answer.
    EXPECT_EQ(names(wire_options(*m, edge, cloud, nullptr, {})), std::vector<std::string>{"fp32"});
    WireCalibration cal;
    cal.cuts.resize(size_t(n));
    for (auto& c : cal.cuts) {
        c["int8"] = {0.27, 1.0, 0.01};
        c["fp32+zstd"] = {0.6, 1.0, 0};
    }
    cal.cuts[1]["int8"].top1_agreement = 0.99;  // below 99.5 % at cut 1
    auto opts = wire_options(*m, edge, cloud, &cal, {});
    ASSERT_EQ(names(opts), (std::vector<std::string>{"fp32", "fp32+zstd", "int8"}));
    EXPECT_EQ(opts[2].ratio[0], 0.27);
    EXPECT_EQ(opts[2].ratio[1], 0.0);
    EXPECT_EQ(opts[2].encode_ns, 3);  // the edge encodes
    EXPECT_EQ(opts[2].decode_ns, 6);  // the cloud decodes
    EXPECT_EQ(names(wire_options(*m, edge, cloud, &cal, parse_wire_policy("exact"))),
              (std::vector<std::string>{"fp32", "fp32+zstd"}));
    // The cloud's HELLO_ACK list limits it.
    EXPECT_EQ(names(wire_options(*m, edge, cloud, &cal, {}, {"fp32", "int8"})),
              (std::vector<std::string>{"fp32", "int8"}));
    // Forced: at every cut, from the shapes where nothing was measured (input 1x2x5x5 as int8:
    // 25 values a channel, too few for a pair each: one pair + 50 bytes, over 200).
    auto forced = wire_options(*m, edge, cloud, nullptr, parse_wire_policy("int8"));
    ASSERT_EQ(names(forced), std::vector<std::string>{"int8"});
    EXPECT_DOUBLE_EQ(forced[0].ratio[0], (8.0 + 50.0) / 200.0);
    EXPECT_THROW(parse_wire_policy("lossy"), Error);
}

TEST(WireCalibration, JsonRoundTripAndValidation) {
    WireCalibration c;
    c.model = "m";
    c.model_hash = "00000000000000ff";
    c.images = {"a.png"};
    c.cuts.resize(2);
    c.cuts[0]["int8+zstd"] = {0.1, 0.5, 0.2};
    c.cuts[1]["fp16"] = {0.5, 1, 0.001};
    const WireCalibration d = WireCalibration::from_json(c.to_json());
    EXPECT_EQ(d.to_json(), c.to_json());
    auto bad = c.to_json();
    bad["cuts"][0]["encodings"]["int8+zstd"]["ratio"] = 7;
    expect_error([&] { WireCalibration::from_json(bad); }, "ratio must be in (0, 2)");
    bad = c.to_json();
    bad["cuts"][1]["encodings"]["int4"] = bad["cuts"][1]["encodings"]["fp16"];
    expect_error([&] { WireCalibration::from_json(bad); }, "unknown wire encoding 'int4'");
    bad = c.to_json();
    bad["cuts"][1]["cut"] = 5;
    expect_error([&] { WireCalibration::from_json(bad); }, "in order");
    expect_error([] { WireCalibration::from_json({{"format", 1}}); }, "wire calibration");
    EXPECT_EQ(calibration_path("models/x.safetensors"), "models/x.wire.json");
    // A profile keeps its wire costs.
    DeviceProfile p = constant_profile(1);
    p.wire["fp16"] = {1.5, 2.5};
    EXPECT_EQ(DeviceProfile::from_json(p.to_json()).wire.at("fp16").decode_ns, 2.5);
    auto pj = p.to_json();
    pj["wire_ns"]["fp16"] = {1.0};
    expect_error([&] { DeviceProfile::from_json(pj); }, "wire_ns 'fp16'");
}

TEST(WirePlanner, TheBytesACodedEncodingMakesAreLearntFromRequests) {
    auto m = small_chain().load("wire_chain3.safetensors");
    const int n = m->size();
    auto edge = std::make_shared<DeviceProfile>(constant_profile(5));
    LinkModel link;
    SplitController split(*m, edge, Objective::Latency, link);
    split.set_cloud(std::make_unique<DeviceProfile>(constant_profile(0.01)), 0);
    split.set_wires({option("fp32", 1, n), option("fp32+zstd", 0.9, n)});
    const SplitController::Decision d = split.decide();
    SplitOutcome o;
    o.offloaded = true;
    o.wire = "fp32+zstd";
    o.raw_bytes = 1000;
    o.sent_bytes = 300;
    o.upload_ms = 1;
    o.upload_start = std::chrono::steady_clock::now();
    split.record(d, o);
    EXPECT_DOUBLE_EQ(split.wires()[1].ratio[size_t(d.cut)], 0.5 * 0.9 + 0.5 * 0.3);
    EXPECT_DOUBLE_EQ(split.wires()[0].ratio[size_t(d.cut)], 1.0);  // another encoding: as it was
}

TEST(SplitControl, ACloudWithTheSameProfileKeepsThePlannerAndABatchIsNotASlowCloud) {
    auto m = small_chain().load("wire_chain4.safetensors");
    auto edge = std::make_shared<DeviceProfile>(constant_profile(5));
    LinkModel link;
    SplitController split(*m, edge, Objective::Latency, link);
    split.set_cloud(std::make_unique<DeviceProfile>(constant_profile(0.01)), 0);
    const DeviceProfile* first = split.cloud_profile();
    // Another replica behind a load balancer, same profile: kept, nothing is searched again.
    const auto before = std::chrono::steady_clock::now();
    split.set_cloud(std::make_unique<DeviceProfile>(constant_profile(0.01)), 3);
    EXPECT_EQ(split.cloud_profile(), first);
    EXPECT_DOUBLE_EQ(split.decide(before).link.cloud_backlog_ms, 3);
    // A different cloud: its profile, and a planner for it.
    auto other = std::make_unique<DeviceProfile>(constant_profile(0.02));
    const DeviceProfile* other_raw = other.get();
    split.set_cloud(std::move(other), 0);
    EXPECT_EQ(split.cloud_profile(), other_raw);
    // Replies computed in batches of 4 taking 10x the request's share: the cloud's speed is not
    // taken from them; the next decision waits what the cloud published (its queue as batches).
    const SplitController::Decision d = split.decide();
    ASSERT_LT(d.cut, m->size());  // the fast cloud gets the work
    const double share = split.planner()->cloud_part_ms(d.estimate);
    const auto replied = std::chrono::steady_clock::now();
    for (int i = 0; i < 4; ++i) {
        SplitOutcome o;
        o.offloaded = true;
        o.cloud_compute_ms = 10 * share;
        o.cloud_batch = 4;
        o.cloud_backlog_ms = 1;
        o.upload_ms = 0.01;
        o.upload_start = std::chrono::steady_clock::now();
        split.record(d, o);
    }
    EXPECT_DOUBLE_EQ(split.cloud_speed().factor(), 1);
    EXPECT_DOUBLE_EQ(split.decide(replied).link.cloud_backlog_ms, 1);
    // Replies computed alone are the cloud's speed: 10x their share makes it 10x slower (from
    // the tracker's third sample).
    for (int i = 0; i < int(SpeedTracker::kMinSamples); ++i) {
        SplitOutcome alone;
        alone.offloaded = true;
        alone.cloud_compute_ms = 10 * share;
        alone.cloud_batch = 1;
        alone.upload_ms = 0.01;
        alone.upload_start = std::chrono::steady_clock::now();
        split.record(d, alone);
    }
    EXPECT_NEAR(split.cloud_speed().factor(), 10, 1e-9);
}

TEST(SplitControl, TheCloudsBacklogIsWorkedOffWhileTheEdgeDoesNotHearOfIt) {
    auto m = small_chain().load("wire_chain4.safetensors");
    LinkModel link;
    SplitController split(*m, std::make_shared<DeviceProfile>(constant_profile(5)),
                          Objective::Latency, link);
    split.set_cloud(std::make_unique<DeviceProfile>(constant_profile(0.01)), 100);
    const auto at = std::chrono::steady_clock::now();
    // At most 100 ms of the cloud's work ahead, less what it has done since (speed as profiled).
    const double soon = split.decide(at).link.cloud_backlog_ms;
    EXPECT_LE(soon, 100);
    EXPECT_GT(soon, 50);  // (set a moment ago)
    EXPECT_NEAR(split.decide(at + std::chrono::milliseconds(30)).link.cloud_backlog_ms, soon - 30,
                1e-6);
    EXPECT_EQ(split.decide(at + std::chrono::milliseconds(150)).link.cloud_backlog_ms, 0);
    // A probe's PROBE_ACK publishes it anew.
    split.probed(40);
    EXPECT_DOUBLE_EQ(split.decide(at).link.cloud_backlog_ms, 40);  // (heard after `at`)
}

// Edges that each minimise their own latency fill a loaded cloud's queue until its wait equals
// their own run time; the toll (Naor's) counts the delay a request adds for those behind it.
TEST(SplitControl, AQueueTollKeepsWorkOnTheEdgeBeforeTheWaitEqualsItsOwnTime) {
    EXPECT_EQ(queue_toll(12, 4, 4, 1), 4 * 3.0 * 2 / 2);  // 3 ahead: 3 later delayed 4 ms each
    EXPECT_EQ(queue_toll(12, 1, 4, 1), 1 * 3.0 * 2 / 2);  // a lighter request delays them less
    EXPECT_EQ(queue_toll(12, 4, 4, 0.5), 0.5 * 12);
    EXPECT_EQ(queue_toll(4, 4, 4, 1), 0);  // one ahead: none
    EXPECT_EQ(queue_toll(12, 4, 4, 0), 0);
    EXPECT_EQ(queue_toll(12, 4, 0, 1), 0);

    auto m = small_chain().load("wire_chain6.safetensors");
    const int n = m->size();
    ASSERT_EQ(n, 4);
    LinkModel link;
    SplitController split(*m, std::make_shared<DeviceProfile>(constant_profile(5)),
                          Objective::Latency, link);
    EXPECT_EQ(split.queue_toll(), SplitController::kDefaultQueueToll);
    const auto now = std::chrono::steady_clock::now();
    // The edge: 20 ms for the whole model; the cloud: 4 ms, behind 12 ms of backlog.
    split.set_cloud(std::make_unique<DeviceProfile>(constant_profile(1)), 12);
    split.set_queue_toll(0);
    const SplitController::Decision selfish = split.decide(now);
    EXPECT_EQ(selfish.cut, 0);  // 12 + 4 + the input's transfer: under 20
    EXPECT_EQ(selfish.estimate.toll_ms, 0);
    EXPECT_LT(selfish.estimate.total_ms, 20);
    split.set_queue_toll(1);  // 3 ahead: 3 n(n - 1) / 2 = 3 requests delayed 4 ms each
    const SplitController::Decision tolled = split.decide(now);
    EXPECT_EQ(tolled.cut, n);
    EXPECT_EQ(tolled.estimate.toll_ms, 0);  // (nothing waits for the cloud)
    // The toll changes the choice, not the prediction.
    const auto est = split.planner()->estimate(tolled.link);
    EXPECT_NEAR(est[0].toll_ms, 4 * 3 * 2 / 2.0, 1e-6);
    EXPECT_NEAR(est[0].total_ms, selfish.estimate.total_ms, 1e-6);
    EXPECT_LT(est[3].toll_ms, est[0].toll_ms);  // (cut 3 leaves the cloud one node)
    split.probed(40);  // (likely_cuts decides now: a backlog that outlasts the test's delays)
    EXPECT_EQ(split.likely_cuts(1), std::vector<int>{n});
    // A short queue costs little: the work goes back to the cloud.
    split.probed(6);
    EXPECT_EQ(split.decide(now).cut, 0);
    EXPECT_NEAR(split.decide(now).estimate.toll_ms, 4 * 1.5 * 0.5 / 2, 1e-6);
}

// A request that runs nothing on the edge cannot tell how fast the edge is: while it waits for
// the cloud, the edge times a prefix, the longest predicted to take half the wait.
TEST(SplitControl, AnEdgeThatRunsNothingTimesAPrefixWhileItWaits) {
    auto m = small_chain().load("wire_chain5.safetensors");
    const int n = m->size();
    ASSERT_EQ(n, 4);
    LinkModel link;
    SplitController split(*m, std::make_shared<DeviceProfile>(constant_profile(5)),
                          Objective::Latency, link);
    split.set_cloud(std::make_unique<DeviceProfile>(constant_profile(0.01)), 12);
    split.set_queue_toll(0);
    const auto now = std::chrono::steady_clock::now();
    const SplitController::Decision d = split.decide(now);
    ASSERT_EQ(d.cut, 0);  // 12 ms of backlog beats the edge's 20 (untolled)
    const CutEstimate& e = d.estimate;
    const double wait =
        e.upload_ms + e.rtt_ms + e.cloud_wait_ms + e.decode_ms + e.cloud_ms + e.download_ms;
    ASSERT_GT(wait, 10);
    ASSERT_LT(wait, 20);
    EXPECT_EQ(split.edge_probe_cut(d, now), 1);  // 5 ms in about 6: one node, not two
    SplitController::Decision longer = d;
    longer.estimate.cloud_wait_ms += 30;  // about 21 ms to fill: three nodes, never all four
    EXPECT_EQ(split.edge_probe_cut(longer, now), 3);
    longer.cut = 3;  // (its own cut's tensors are the request's)
    EXPECT_EQ(split.edge_probe_cut(longer, now), 2);
    SplitController::Decision quick = d;
    quick.estimate.cloud_wait_ms = 0;
    quick.estimate.upload_ms = quick.estimate.rtt_ms = 0.1;
    EXPECT_EQ(split.edge_probe_cut(quick, now), 1);  // nothing fits: the shortest that times
    SplitController::Decision all_edge = d;
    all_edge.cut = n;
    EXPECT_EQ(split.edge_probe_cut(all_edge, now), 0);
    SplitController::Decision partition = d;
    partition.nodes = NodeSet(size_t(n), false);
    EXPECT_EQ(split.edge_probe_cut(partition, now), 0);

    // Timed 10x faster than profiled: the factor follows at once, and the next probe waits
    // kEdgeProbeEvery; the budget is then in the faster edge's time.
    split.edge_probed(1, 0.5);
    EXPECT_DOUBLE_EQ(split.edge_speed().factor(), 0.1);
    EXPECT_EQ(split.edge_probe_cut(d), 0);
    const auto later = std::chrono::steady_clock::now() + SplitController::kEdgeProbeEvery +
                       std::chrono::seconds(1);
    SplitController::Decision faster = d;
    faster.link.edge_scale = 0.1;  // 6 ms of wait hold 60 profiled
    EXPECT_EQ(split.edge_probe_cut(faster, later), 3);

    // A long wait (a loaded cloud, a slow link) buys no probe longer than kEdgeProbeMaxMs.
    SplitController slow(*m, std::make_shared<DeviceProfile>(constant_profile(30)),
                         Objective::Latency, link);
    slow.set_cloud(std::make_unique<DeviceProfile>(constant_profile(0.01)), 1000);
    SplitController::Decision waits = slow.decide(now);
    waits.cut = 0;
    waits.estimate.cloud_wait_ms = 1000;            // half of it would hold all three prefixes
    EXPECT_EQ(slow.edge_probe_cut(waits, now), 1);  // 30 ms fits 50, 60 does not
}

}  // namespace nse::test
