// The latency models at a batch of N images, and the backlog the cloud publishes from them.
#include <gtest/gtest.h>

#include "net/batch_costs.h"
#include "net/scheduler.h"
#include "partition/profile.h"
#include "tests/partition_helpers.h"
#include "tests/test_helpers.h"

namespace nse::test {

// weight_reads_model: its convolution's weights are far smaller than its output (a batch runs it
// image by image); the pool, flatten and linear layer run as one batch (batched_from is 1).
TEST(BatchPrediction, ImageByImageNodesCostNTimesAndTheBatchedTailItsBatchFeatures) {
    auto m = weight_reads_model();
    ASSERT_EQ(m->batched_from(0, m->size()), 1);
    EXPECT_EQ(m->batched_from(2, m->size()), 2);  // (a range starting past it: from its start)
    const DeviceProfile p = flat_profile(0.01, 0.001);
    const std::vector<double> one = p.predict_model(*m), four = p.predict_model(*m, 4);
    ASSERT_EQ(four.size(), one.size());
    EXPECT_DOUBLE_EQ(four[0], 4 * one[0]);  // the convolution, once per image
    // The linear layer as one batch: its base once, four images' multiply-adds.
    const double fc_mflop = 2.0 * 1600 * 50 / 1e6;
    EXPECT_NEAR(one[3], 0.01 + 0.001 * fc_mflop, 1e-12);
    EXPECT_NEAR(four[3], 0.01 + 0.001 * 4 * fc_mflop, 1e-12);
    EXPECT_LT(four[3], 4 * one[3]);
    // A GPU runs every node as one batch.
    DeviceProfile gpu = p;
    gpu.device = "cuda";
    const std::vector<double> gpu_four = gpu.predict_model(*m, 4);
    EXPECT_DOUBLE_EQ(gpu_four[0], gpu.predict_ms(model_features(*m, 4)[0]));
    EXPECT_LT(gpu_four[0], four[0]);  // (one base term, not four)
    expect_error([&] { p.predict_model(*m, 0); }, "batch size must be >= 1");
}

TEST(BatchCosts, SuffixesAtEachBatchSizeLinearBetweenThem) {
    net::RequestCost c{{1, 2, 4}, {1.0, 1.5, 2.0}};
    EXPECT_EQ(c.at(0), 0);
    EXPECT_DOUBLE_EQ(c.at(1), 1.0);
    EXPECT_DOUBLE_EQ(c.at(3), 1.75);
    EXPECT_DOUBLE_EQ(c.at(8), 3.0);  // beyond the table: the last two's slope
    EXPECT_EQ(net::RequestCost{}.at(3), 0);

    auto m = weight_reads_model();
    const DeviceProfile p = flat_profile(0.01, 0.001);
    const net::BatchCosts costs(*m, p, 3);  // sizes 1, 2, 4 (the first power of 2 >= 3)
    const std::vector<double> one = p.predict_model(*m), four = p.predict_model(*m, 4);
    EXPECT_DOUBLE_EQ(costs.suffix_ms(2), one[2] + one[3]);
    const net::RequestCost at_cut = costs.request(1, nullptr);
    ASSERT_EQ(at_cut.sizes, (std::vector<int64_t>{1, 2, 4}));
    EXPECT_DOUBLE_EQ(at_cut.ms[2], four[1] + four[2] + four[3]);
    // A node set: the nodes outside it (the edge ran the convolution and the flatten's input).
    const NodeSet edge{true, true, false, false};
    EXPECT_DOUBLE_EQ(costs.request(2, &edge).ms[2], four[2] + four[3]);
    EXPECT_TRUE(net::BatchCosts().empty());
}

TEST(BatchCosts, TheCloudPublishesItsQueueAsTheBatchesItWillRunIn) {
    auto m = weight_reads_model();
    for (int workers : {1, 2}) {
        net::ServerOptions so;
        so.max_batch = 4;
        so.workers = workers;
        net::Scheduler scheduler(so);  // (not started: the jobs stay queued)
        EXPECT_EQ(scheduler.load().backlog_us, 0u);
        auto job = [&](uint32_t cut, net::RequestCost cost) {
            net::Job j;
            j.model = m;
            j.cut = cut;
            j.cost = std::move(cost);
            scheduler.enqueue(std::move(j));
        };
        // Six requests at cut 1: a batch of four and one of two; one at cut 2, alone.
        for (int i = 0; i < 6; ++i) job(1, {{1, 2, 4}, {1.0, 1.5, 2.0}});
        job(2, {{1, 2, 4}, {10.0, 20.0, 40.0}});
        const net::Scheduler::Load load = scheduler.load();
        EXPECT_EQ(load.queued, 7u);
        EXPECT_EQ(load.backlog_us, uint64_t((2.0 + 1.5 + 10.0) * 1e3 / workers));
    }
}

}  // namespace nse::test
