// A cut's first run in a process maps its plan's memory: the runtime says which plans exist and
// what a new one maps, and the split controller prices a cut not yet prepared by it, so an edge
// does not switch to a cut that saves it less than that, and names the cut to prepare meanwhile.
#include "engine/runtime.h"
#include "partition/split_controller.h"
#include "tests/model_builder.h"
#include "tests/partition_helpers.h"

namespace nse::test {

namespace {
// Every kind costs `ms` a node.
DeviceProfile constant_profile(double ms) { return flat_profile(ms, 0); }
}  // namespace

TEST(FirstRun, TheRuntimeSaysWhichPlansExistAndWhatANewOneMaps) {
    auto m = small_chain().load("first_run.safetensors");
    const int n = m->size();
    Runtime rt(m, current_test_pool());
    for (int k = 1; k <= n; ++k) {
        EXPECT_FALSE(rt.prepared(0, k, 1)) << k;
        const size_t bytes = rt.first_run_bytes(0, k, 1);
        EXPECT_GT(bytes, 0u) << k;
        const size_t before = rt.planned_floats();
        rt.prepare(0, k, 1);
        EXPECT_TRUE(rt.prepared(0, k, 1)) << k;
        EXPECT_EQ((rt.planned_floats() - before) * sizeof(float), bytes) << k;
        EXPECT_EQ(rt.first_run_bytes(0, k, 1), bytes) << k;  // (what it maps, made or not)
    }
    EXPECT_FALSE(rt.prepared(0, n, 2));  // another batch is another plan
    // A run makes its plan too.
    EXPECT_FALSE(rt.prepared(1, n, 1));
    const Tensor x = filled({1, 2, 5, 5});
    const std::vector<Tensor> live = rt.run(0, 1, {x});
    rt.run(1, n, live);
    EXPECT_TRUE(rt.prepared(1, n, 1));
    EXPECT_THROW(rt.first_run_bytes(3, 2, 1), Error);
    EXPECT_THROW(rt.first_run_bytes(0, n + 1, 1), Error);
}

namespace {
// How long an offloaded request waits for its reply (SplitController's rule).
double wait_of(const CutEstimate& e) {
    return e.upload_ms + e.rtt_ms + e.cloud_wait_ms + e.decode_ms + e.cloud_ms + e.download_ms;
}
}  // namespace

TEST(FirstRun, ACutNotPreparedPaysItsFirstRunAndIsPreparedMeanwhile) {
    auto m = small_chain().load("first_run2.safetensors");
    const int n = m->size();
    ASSERT_EQ(n, 4);
    LinkModel link;
    // The edge: 20 ms for the whole model; the cloud: nothing, behind 12 ms of backlog (no toll):
    // the two best cuts both offload, and their requests wait about 13 ms for the reply.
    auto controller = [&] {
        auto c = std::make_unique<SplitController>(
            *m, std::make_shared<DeviceProfile>(constant_profile(5)), Objective::Latency, link);
        c->set_cloud(std::make_unique<DeviceProfile>(constant_profile(0.01)), 12);
        c->set_queue_toll(0);
        return c;
    };
    auto split = controller();
    const auto now = std::chrono::steady_clock::now();
    const SplitController::Decision plain = split->decide(now);
    const int ideal = plain.cut;
    // The runner-up, and by how much the best beats it.
    const std::vector<CutEstimate> est = split->planner()->estimate(plain.link);
    int second = -1;
    for (int k = 0; k <= n; ++k)
        if (k != ideal && (second < 0 || est[size_t(k)].total_ms < est[size_t(second)].total_ms))
            second = k;
    const double gain = est[size_t(second)].total_ms - est[size_t(ideal)].total_ms;
    const double wait = wait_of(est[size_t(second)]);
    ASSERT_GT(gain, 0);
    ASSERT_LT(second, n);         // it offloads: its request waits
    ASSERT_GT(wait, 2.5 * gain);  // long enough to prepare the best meanwhile
    int timed = 0;                // a third cut, whose preparation gives the rate
    while (timed == ideal || timed == second) ++timed;

    // Every cut but the best and the third prepared; nothing timed yet: first runs are free.
    const size_t mb = size_t(1) << 20;
    std::vector<size_t> bytes(size_t(n + 1), 0);
    bytes[size_t(ideal)] = bytes[size_t(timed)] = mb;
    split->set_first_run_bytes(bytes);
    EXPECT_FALSE(split->is_prepared(ideal));
    EXPECT_TRUE(split->is_prepared(second));
    EXPECT_EQ(split->first_run_ms(ideal), 0);
    SplitController::Decision d = split->decide(now);
    EXPECT_EQ(d.cut, ideal);
    EXPECT_EQ(d.prepare_next, -1);

    // The third's megabyte took more than the gain and at most half the wait: the best's first
    // run costs more than it saves; the runner-up is chosen, and the best is prepared meanwhile.
    const double cost = 0.5 * (gain + 0.5 * wait);
    split->prepared(timed, cost);
    EXPECT_TRUE(split->is_prepared(timed));
    EXPECT_NEAR(split->first_run_ms(ideal), cost, 1e-9);
    d = split->decide(now);
    EXPECT_EQ(d.cut, second);
    EXPECT_EQ(d.estimate.prepare_ms, 0);
    EXPECT_EQ(d.prepare_next, ideal);
    std::vector<double> first_run;
    for (int k = 0; k <= n; ++k) first_run.push_back(split->first_run_ms(k));
    const std::vector<CutEstimate> priced =
        split->planner()->estimate(plain.link, {}, Objective::Latency, first_run);
    EXPECT_NEAR(priced[size_t(ideal)].prepare_ms, cost, 1e-9);
    EXPECT_NEAR(priced[size_t(ideal)].total_ms, est[size_t(ideal)].total_ms + cost, 1e-9);
    EXPECT_GT(priced[size_t(ideal)].energy_mj, est[size_t(ideal)].energy_mj);

    // Prepared (while that request waited): chosen, nothing left to prepare.
    split->prepared(ideal, 0);
    d = split->decide(now);
    EXPECT_EQ(d.cut, ideal);
    EXPECT_EQ(d.estimate.prepare_ms, 0);
    EXPECT_EQ(d.prepare_next, -1);

    // A first run longer than half the wait is not prepared meanwhile (it would hold up the
    // reply on an edge short of CPU).
    auto slow = controller();
    slow->set_first_run_bytes(bytes);
    slow->prepared(timed, wait);
    d = slow->decide(now);
    EXPECT_EQ(d.cut, second);
    EXPECT_EQ(d.prepare_next, -1);

    // A first run cheaper than the gain is paid at once.
    auto cheap = controller();
    cheap->set_first_run_bytes(bytes);
    cheap->prepared(timed, gain / 2);
    d = cheap->decide(now);
    EXPECT_EQ(d.cut, ideal);
    EXPECT_NEAR(d.estimate.prepare_ms, gain / 2, 1e-9);
    EXPECT_EQ(d.prepare_next, -1);
}

// A request during which the edge timed a prefix or prepared a cut says nothing of the link:
// on an edge short of CPU that work delays reading the reply. Its bytes still drain the bucket.
TEST(FirstRun, ARequestDuringWhichTheEdgeWorkedTeachesTheLinkNothing) {
    auto m = small_chain().load("first_run3.safetensors");
    LinkModel link;
    SplitController split(*m, std::make_shared<DeviceProfile>(constant_profile(5)),
                          Objective::Latency, link);
    split.set_cloud(std::make_unique<DeviceProfile>(constant_profile(0.01)), 0);
    const SplitController::Decision d = split.decide();
    ASSERT_LT(d.cut, m->size());
    SplitOutcome o;
    o.offloaded = true;
    o.sent_bytes = 64 * 1024;
    o.upload_ms = 5;
    o.network_ms = 40;  // not explained by the round trip: would count as upload time
    o.upload_start = std::chrono::steady_clock::now();
    o.edge_busy = true;
    split.record(d, o);
    EXPECT_EQ(link.upload_samples(), 0u);
    EXPECT_FALSE(link.has_bandwidth());
    EXPECT_DOUBLE_EQ(link.rtt_ms(), 1.0);  // (the fallback: nothing learnt)
    o.edge_busy = false;
    split.record(d, o);
    EXPECT_EQ(link.upload_samples(), 1u);
    EXPECT_TRUE(link.has_bandwidth());
    // 40 ms of round trip past the latency: upload time, 64 KB in about 44 ms.
    EXPECT_NEAR(link.upload_bytes_per_ms(), 64 * 1024 / 44.0, 64 * 1024 / 44.0 * 0.1);
}

}  // namespace nse::test
