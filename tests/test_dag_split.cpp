// Partitions that are not positions, on real branching networks (GoogLeNet, Inception v3,
// DenseNet-121 from the zoo subset): the minimum cut is never worse than the best position (and
// for random node costs often better on the inception networks), and a
// request split at such a partition, computed by the cloud, equals the local run bit for bit.
#include <random>
#include <set>

#include "partition/dag_cut.h"
#include "tests/dag_helpers.h"
#include "tests/net_helpers.h"
#include "tests/net_test_util.h"

namespace nse::test {

namespace {

std::string zoo_path(const std::string& name) {
    return std::string(NSE_TEST_DATA_DIR) + "/zoo/" + name + ".safetensors";
}

NodeSet position(int n, int k) {
    NodeSet s(static_cast<size_t>(n), false);
    for (int i = 0; i < k; ++i) s[size_t(i)] = true;
    return s;
}

// Non-position partitions the minimum cut finds for random node costs (seeded).
std::vector<NodeSet> random_cost_partitions(const Model& m, int trials, unsigned seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    std::vector<NodeSet> out;
    std::set<std::vector<uint8_t>> seen;
    const int n = m.size();
    for (int t = 0; t < trials; ++t) {
        std::vector<double> e(static_cast<size_t>(n)), c(static_cast<size_t>(n));
        for (int i = 0; i < n; ++i) e[size_t(i)] = u(rng), c[size_t(i)] = u(rng) * 0.5;
        const NodeSet s = min_cost_partition(m, e, c, std::pow(10.0, -7 + 3 * u(rng)));
        if (as_position_cut(s) < 0 && seen.insert(pack_nodes(s)).second) out.push_back(s);
    }
    return out;
}

}  // namespace

TEST(DagSplit, MinimumCutIsNeverWorseThanTheBestPosition) {
    for (const char* name : {"googlenet", "inception_v3", "densenet121"}) {
        auto m = Model::load(zoo_path(name));
        const int n = m->size();
        std::mt19937 rng(11);
        std::uniform_real_distribution<double> u(0.0, 1.0);
        int better = 0;
        for (int t = 0; t < 20; ++t) {
            std::vector<double> e(static_cast<size_t>(n)), c(static_cast<size_t>(n));
            for (int i = 0; i < n; ++i) e[size_t(i)] = u(rng), c[size_t(i)] = u(rng) * 0.5;
            const double price = std::pow(10.0, -7 + 3 * u(rng));
            const NodeSet s = min_cost_partition(*m, e, c, price);
            ASSERT_TRUE(closed_under_predecessors(*m, s));
            const double got = partition_cost(*m, s, e, c, price);
            double best_position = 1e300;
            for (int k = 0; k <= n; ++k)
                best_position =
                    std::min(best_position, partition_cost(*m, position(n, k), e, c, price));
            EXPECT_LE(got, best_position * (1 + 1e-9)) << name << " trial " << t;
            better += got < best_position * (1 - 1e-9);
        }
        // DenseNet's blocks read the concatenation of everything before them: as converted
        // (one concat per layer) nearly every closed set is a position, so only the inception
        // networks must show partitions beyond them.
        if (std::string(name) != "densenet121") {
            EXPECT_GT(better, 0) << name << ": no trial found a partition beyond the positions";
        }
    }
}

TEST(DagSplit, APartitionThatIsNotAPositionSplitWithTheCloudEqualsTheLocalRun) {
    const std::string path = zoo_path("googlenet");
    ServedModel googlenet{Model::load(path), file_content_hash(path)};
    BackgroundServer cloud(server_options(), {googlenet});
    SafeTensors ref =
        read_safetensors(std::string(NSE_TEST_DATA_DIR) + "/zoo/googlenet.ref.safetensors");
    const Tensor x = ref.tensors.at("input").clone();
    const Tensor want = local_output(googlenet.model, x);
    EdgeRunner edge(googlenet.model, googlenet.hash, client_for(cloud.port()), current_test_pool(),
                    /*require_cloud=*/true);
    const std::vector<NodeSet> sets = random_cost_partitions(*googlenet.model, 40, 5);
    ASSERT_GE(sets.size(), 2u);
    for (size_t i = 0; i < std::min<size_t>(sets.size(), 3); ++i) {
        EdgeReport r;
        const Tensor& y = edge.infer_nodes(x, sets[i], r);
        EXPECT_TRUE(r.offloaded) << "partition " << i;  // the cloud answered, not a fallback
        EXPECT_EQ(r.nodes, nodes_hex(sets[i]));
        EXPECT_EQ(r.cut, edge_count(sets[i]));
        EXPECT_EQ(r.raw_bytes, crossing_bytes(*googlenet.model, sets[i]));
        EXPECT_TRUE(same_bytes(y, want)) << "partition " << i;
    }
    // A set that is not closed is refused here, before anything is sent.
    NodeSet open = sets[0];
    open[0] = false;
    EdgeReport r;
    EXPECT_THROW(edge.infer_nodes(x, open, r), Error);
}

}  // namespace nse::test
