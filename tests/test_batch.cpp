// Batches: every model (the five and one network of each zoo family) runs a batch of different
// images as it runs each alone, from the input and from a cut; and the cloud's dynamic batching
// runs queued requests for one model and cut together, each reply equal to the request run
// alone bit for bit, with the batch said in the RESULT, the log and the metrics.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <future>
#include <sstream>
#include <thread>

#include "engine/runtime.h"
#include "tests/net_helpers.h"
#include "tests/net_test_util.h"
#include "tools/cli_util.h"

namespace nse::test {

namespace {

std::shared_ptr<const Model> load_test_model(const std::string& name) {
    const std::string five = std::string(NSE_TEST_MODELS_DIR) + "/" + name + ".safetensors";
    const std::string zoo = std::string(NSE_TEST_DATA_DIR) + "/zoo/" + name + ".safetensors";
    const std::string custom = std::string(NSE_TEST_DATA_DIR) + "/" + name + ".safetensors";
    return Model::load(std::ifstream(five).good()  ? five
                       : std::ifstream(zoo).good() ? zoo
                                                   : custom);
}

// Image i of a test batch.
Tensor image(const Model& m, int i) { return random_input(m, uint32_t(i + 2)); }

Tensor stack(const std::vector<Tensor>& parts) {
    Shape s = parts[0].shape();
    s[0] = 0;
    for (const Tensor& p : parts) s[0] += p.dim(0);
    Tensor out = Tensor::zeros(s);
    float* dst = out.data();
    for (const Tensor& p : parts) {
        std::memcpy(dst, p.data(), p.bytes());
        dst += p.numel();
    }
    return out;
}

// Largest |a - b| over the largest |b|.
double relative_diff(const float* a, const float* b, int64_t n) {
    double diff = 0, ref = 0;
    for (int64_t i = 0; i < n; ++i) {
        diff = std::max(diff, std::fabs(double(a[i]) - double(b[i])));
        ref = std::max(ref, std::fabs(double(b[i])));
    }
    return diff / std::max(ref, 1e-30);
}

}  // namespace

class BatchModels : public ::testing::TestWithParam<const char*> {};

TEST_P(BatchModels, ABatchOfThreeImagesIsEachImageAlone) {
    auto m = load_test_model(GetParam());
    Runtime rt(m, current_test_pool());
    const int n = m->size();
    // From the input, and from a cut in the middle (the cloud's batches start at a cut).
    for (int k : {0, n / 2}) {
        std::vector<std::vector<Tensor>> live(3);  // per image, the cut's tensors
        std::vector<Tensor> alone;
        for (int i = 0; i < 3; ++i) {
            const std::vector<Tensor> x{image(*m, i)};  // run(0, 0, x) gives views of x
            for (const Tensor& t : rt.run(0, k, x)) live[size_t(i)].push_back(t.clone());
            alone.push_back(rt.run(k, n, live[size_t(i)])[0].clone());
        }
        std::vector<Tensor> batched;
        for (size_t t = 0; t < live[0].size(); ++t)
            batched.push_back(stack({live[0][t], live[1][t], live[2][t]}));
        const Tensor& y = rt.run(k, n, batched)[0];
        ASSERT_EQ(y.dim(0), 3);
        const int64_t per = y.numel() / 3;
        for (int i = 0; i < 3; ++i)
            EXPECT_EQ(std::memcmp(y.data() + i * per, alone[size_t(i)].data(), per * 4), 0)
                << GetParam() << " image " << i << " from cut " << k << ": max diff "
                << relative_diff(y.data() + i * per, alone[size_t(i)].data(), per)
                << " x max |alone|";
    }
}

INSTANTIATE_TEST_SUITE_P(
    FiveAndZoo, BatchModels,
    ::testing::Values("lenet", "alexnet", "mobilenet_v2", "resnet18", "vgg16", "squeezenet1_1",
                      "vgg11_bn", "googlenet", "inception_v3", "densenet121", "mobilenet_v3_small",
                      "mnasnet0_5", "shufflenet_v2_x0_5", "efficientnet_b0", "regnet_y_400mf",
                      "resnext50_32x4d", "convnext_tiny", "vit_b_32", "tiny_vit", "tiny_swin",
                      "tiny_swin_v2", "tiny_maxvit"),
    [](const ::testing::TestParamInfo<const char*>& i) { return std::string(i.param); });

namespace {

// `count` edges each send one request for `served` at cut `k` at once; returns their reports
// and checks each output against the request run alone.
std::vector<EdgeReport> concurrent_requests(uint16_t port, const ServedModel& served, int k,
                                            int count) {
    const Model& m = *served.model;
    std::vector<Tensor> want;
    for (int i = 0; i < count; ++i) want.push_back(local_output(served.model, image(m, i)));
    std::vector<std::unique_ptr<EdgeRunner>> edges;
    for (int i = 0; i < count; ++i) {
        edges.push_back(std::make_unique<EdgeRunner>(served.model, served.hash, client_for(port),
                                                     current_test_pool(), true));
        edges.back()->connect();
    }
    std::vector<std::future<EdgeReport>> replies;
    for (int i = 0; i < count; ++i)
        replies.push_back(std::async(std::launch::async, [&, i] {
            EdgeReport r;
            const Tensor& y = edges[size_t(i)]->infer(image(m, i), k, r);
            EXPECT_TRUE(r.offloaded);
            EXPECT_TRUE(same_bytes(y, want[size_t(i)]))
                << m.name() << " request " << i << " in a batch of " << r.cloud_batch;
            return r;
        }));
    std::vector<EdgeReport> out;
    for (auto& f : replies) out.push_back(f.get());
    return out;
}

}  // namespace

TEST(DynamicBatching, QueuedRequestsRunTogetherAndEachGetsItsOwnAnswer) {
    ServedModel mobilenet = serve("mobilenet_v2");
    ServerOptions so = server_options();
    std::ostringstream log;
    so.log = &log;
    so.max_batch = 4;
    so.max_queue_delay_us = 3'000'000;  // long enough for all four to arrive, even on a busy CI
    so.metrics_port = 0;
    BackgroundServer cloud(so, {mobilenet});
    const std::vector<EdgeReport> reports = concurrent_requests(cloud.port(), mobilenet, 20, 4);
    double longest_wait_ms = 0;
    for (const EdgeReport& r : reports) {
        EXPECT_EQ(r.cloud_batch, 4u);
        longest_wait_ms = std::max(longest_wait_ms, r.cloud_queue_ms);
    }
    EXPECT_GT(longest_wait_ms, 0);  // the first waited for the other three
    EXPECT_EQ(cloud.server().requests_served(), 4u);
    EXPECT_NE(log.str().find("batch=4"), std::string::npos) << log.str();
    // The server counts a request when its reply's write completes, which can be after the edge
    // has the reply (a CI run read the metrics with three of the four counted): wait, bounded.
    const std::string fourth = "nsengine_batch_size_bucket{model=\"mobilenet_v2\",le=\"4\"} 4\n";
    std::string metrics = cloud.server().metrics_text();
    for (int i = 0; i < 500 && metrics.find(fourth) == std::string::npos; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        metrics = cloud.server().metrics_text();
    }
    EXPECT_NE(metrics.find("nsengine_batches_total 1\n"), std::string::npos) << metrics;
    EXPECT_NE(metrics.find(fourth), std::string::npos) << metrics;
}

TEST(DynamicBatching, IdleWorkersLeaveABatchBeingFilledItsJobs) {
    // Three workers, four requests 40 ms apart: each arrival wakes every worker, and an idle one
    // must not take the job the first worker's batch is waiting for (it did, splitting the batch
    // into runs of 1-3 most of the time).
    ServedModel lenet = serve("lenet");
    ServerOptions so = server_options();
    so.workers = 3;
    so.max_batch = 4;
    so.max_queue_delay_us = 3'000'000;
    BackgroundServer cloud(so, {lenet});
    std::vector<std::unique_ptr<EdgeRunner>> edges;
    for (int i = 0; i < 4; ++i) {
        edges.push_back(std::make_unique<EdgeRunner>(
            lenet.model, lenet.hash, client_for(cloud.port()), current_test_pool(), true));
        edges.back()->connect();
    }
    std::vector<std::future<EdgeReport>> replies;
    for (int i = 0; i < 4; ++i)
        replies.push_back(std::async(std::launch::async, [&, i] {
            std::this_thread::sleep_for(std::chrono::milliseconds(40 * i));
            EdgeReport r;
            const Tensor& y = edges[size_t(i)]->infer(image(*lenet.model, i), 1, r);
            EXPECT_TRUE(r.offloaded);
            EXPECT_TRUE(same_bytes(y, local_output(lenet.model, image(*lenet.model, i))));
            return r;
        }));
    for (auto& f : replies) EXPECT_EQ(f.get().cloud_batch, 4u);
    EXPECT_EQ(cloud.server().requests_served(), 4u);
}

TEST(DynamicBatching, OffAtMaxBatchOneAndNeverAcrossCutsOrPastTheLimit) {
    ServedModel lenet = serve("lenet");
    for (int max_batch : {1, 3}) {
        ServerOptions so = server_options();
        so.max_batch = max_batch;
        so.max_queue_delay_us = 200'000;
        BackgroundServer cloud(so, {lenet});
        // Five at once: batches of at most max_batch (never more: 3 + 2 here).
        for (const EdgeReport& r : concurrent_requests(cloud.port(), lenet, 1, 5))
            EXPECT_LE(r.cloud_batch, uint32_t(max_batch));
    }
    // Different cuts are different batches: two edges at cut 1 and two at cut 2.
    ServerOptions so = server_options();
    so.max_batch = 4;
    so.max_queue_delay_us = 300'000;
    BackgroundServer cloud(so, {lenet});
    std::vector<std::future<EdgeReport>> replies;
    for (int i = 0; i < 4; ++i)
        replies.push_back(std::async(std::launch::async, [&, i] {
            EdgeRunner edge(lenet.model, lenet.hash, client_for(cloud.port()), current_test_pool(),
                            true);
            edge.connect();
            EdgeReport r;
            const Tensor& y = edge.infer(image(*lenet.model, i), 1 + i % 2, r);
            EXPECT_TRUE(same_bytes(y, local_output(lenet.model, image(*lenet.model, i))));
            return r;
        }));
    for (auto& f : replies) EXPECT_LE(f.get().cloud_batch, 2u);
}

}  // namespace nse::test
