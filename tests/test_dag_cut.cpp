// Partitions of a DAG that are not positions: reordered models run bit-identical to the file's
// order, the minimum cut is the cheapest closed set (against brute force over every set), the
// node-set encodings round-trip and refuse what they cannot describe.
#include <random>

#include "engine/runtime.h"
#include "partition/dag_cut.h"
#include "tests/dag_helpers.h"
#include "tests/model_builder.h"

namespace nse::test {

namespace {

// An inception-like block: two branches of different cost and size from one stem, concatenated.
//   stem = conv(input); b1 = conv(stem) -> b2 = conv(b1); c1 = conv 1x1(stem) (a small map);
//   cat = concat(b2, up) where up = max_pool 1 (identity shape) of c1; head: pool, flatten, fc.
ModelBuilder branchy() {
    ModelBuilder b({1, 3, 8, 8});
    b.node("stem", "conv2d", {"input"}, {{"padding", 1}, {"activation", "relu"}},
           {"stem.weight", "stem.bias"})
        .weight("stem.weight", {6, 3, 3, 3})
        .weight("stem.bias", {6})
        .node("b1", "conv2d", {"stem"}, {{"padding", 1}, {"activation", "relu"}},
              {"b1.weight", "b1.bias"})
        .weight("b1.weight", {8, 6, 3, 3})
        .weight("b1.bias", {8})
        .node("c1", "conv2d", {"stem"}, {}, {"c1.weight", "c1.bias"})
        .weight("c1.weight", {2, 6, 1, 1})
        .weight("c1.bias", {2})
        .node("b2", "conv2d", {"b1"}, {{"padding", 1}}, {"b2.weight", "b2.bias"})
        .weight("b2.weight", {4, 8, 3, 3})
        .weight("b2.bias", {4})
        .node("c2", "max_pool2d", {"c1"}, {{"kernel_size", 1}})
        .node("cat", "concat", {"b2", "c2"}, {{"dim", 1}})
        .node("gap", "adaptive_avg_pool2d", {"cat"}, {{"output_size", 1}})
        .node("flat", "flatten", {"gap"})
        .node("fc", "linear", {"flat"}, {}, {"fc.weight", "fc.bias"})
        .weight("fc.weight", {3, 6})
        .weight("fc.bias", {3})
        .output("fc");
    return b;
}

NodeSet set_of(const Model& m, const std::vector<std::string>& names) {
    NodeSet s(size_t(m.size()), false);
    for (int i = 0; i < m.size(); ++i)
        for (const auto& n : names)
            if (m.node(i).name == n) s[size_t(i)] = true;
    return s;
}

}  // namespace

TEST(DagCut, ClosedSetsAndWhatCrosses) {
    auto m = branchy().load();
    EXPECT_TRUE(closed_under_predecessors(*m, set_of(*m, {"stem", "c1"})));
    EXPECT_FALSE(closed_under_predecessors(*m, set_of(*m, {"c1"})));
    EXPECT_FALSE(closed_under_predecessors(*m, set_of(*m, {"stem", "b2"})));
    const NodeSet s = set_of(*m, {"stem", "c1", "c2"});
    EXPECT_EQ(as_position_cut(s), -1);
    EXPECT_EQ(as_position_cut(set_of(*m, {"stem", "b1"})), 2);
    std::vector<std::string> names;
    for (int id : crossing_tensors(*m, s)) names.push_back(m->tensor_name(id));
    EXPECT_EQ(names, (std::vector<std::string>{"stem", "c2"}));  // b1 reads stem, cat reads c2
    // All on the edge: the output crosses (the convention the minimum cut prices).
    EXPECT_EQ(crossing_tensors(*m, NodeSet(size_t(m->size()), true)),
              std::vector<int>{m->output_ids()[0]});
}

TEST(DagCut, ReorderedModelRunsBitIdenticalAtEveryCut) {
    auto m = branchy().load();
    const NodeSet s = set_of(*m, {"stem", "c1", "c2"});
    auto r = Model::reordered(m, edge_first_order(s));
    ASSERT_EQ(r->size(), m->size());
    EXPECT_EQ(r->node(1).name, "c1");
    EXPECT_EQ(r->node(2).name, "c2");
    // What device weights are keyed by: the model as loaded, and each node's place there.
    EXPECT_EQ(m->base(), nullptr);
    EXPECT_EQ(r->base(), m);
    for (int i = 0; i < r->size(); ++i) EXPECT_EQ(m->node(r->base_node(i)).name, r->node(i).name);
    std::vector<int> back(size_t(r->size()));
    for (int i = 0; i < r->size(); ++i) back[size_t(i)] = i;
    auto rr = Model::reordered(r, back);
    EXPECT_EQ(rr->base(), m);
    EXPECT_EQ(rr->base_node(1), r->base_node(1));
    std::vector<std::string> live;
    for (int id : r->live_at(3)) live.push_back(r->tensor_name(id));
    EXPECT_EQ(live, (std::vector<std::string>{"stem", "c2"}));

    auto pool = std::make_shared<ThreadPool>(1);
    Runtime whole(m, pool), split(r, pool);
    Shape shape = m->graph().input_shape;
    const Tensor input = filled(shape, -1.f, 0.021f);
    const Tensor expect = whole.run(input).clone();
    for (int k = 0; k <= r->size(); ++k) {
        std::vector<Tensor> in{input};
        std::vector<Tensor> mid;
        for (const Tensor& t : split.run(0, k, in)) mid.push_back(t.clone());
        const Tensor& out = split.run(k, r->size(), mid)[0];
        ASSERT_EQ(out.shape(), expect.shape());
        EXPECT_EQ(std::memcmp(out.data(), expect.data(), expect.bytes()), 0) << "cut " << k;
    }
}

TEST(DagCut, ReorderRefusesOrdersThatAreNotTopological) {
    auto m = branchy().load();
    std::vector<int> order(size_t(m->size()));
    for (int i = 0; i < m->size(); ++i) order[size_t(i)] = i;
    std::swap(order[0], order[1]);  // b1 before its input stem
    EXPECT_THROW(Model::reordered(m, order), Error);
    order.pop_back();
    EXPECT_THROW(Model::reordered(m, order), Error);
    std::vector<int> twice(size_t(m->size()), 0);
    EXPECT_THROW(Model::reordered(m, twice), Error);
}

TEST(DagCut, NodeSetsRoundTripAndRefuseWhatTheyCannotDescribe) {
    auto m = branchy().load();
    const NodeSet s = set_of(*m, {"stem", "c1", "c2"});
    EXPECT_EQ(parse_nodes_hex(nodes_hex(s), m->size()), s);
    const std::vector<uint8_t> bytes = pack_nodes(s);
    EXPECT_EQ(unpack_nodes(bytes.data(), bytes.size(), m->size()), s);
    EXPECT_THROW(unpack_nodes(bytes.data(), bytes.size(), 20), Error);  // wrong length
    std::vector<uint8_t> past = bytes;
    past.back() |= 0x80;  // a node past the model's 9
    EXPECT_THROW(unpack_nodes(past.data(), past.size(), m->size()), Error);
    EXPECT_THROW(parse_nodes_hex("0", m->size()), Error);
    EXPECT_THROW(parse_nodes_hex("zz00", m->size()), Error);
}

TEST(DagCut, PartitionedModelsCheckAndCap) {
    auto m = branchy().load();
    PartitionedModels held(m, 1);
    EXPECT_EQ(held.get(set_of(*m, {"stem", "b1"})), m);  // a position: the base itself
    auto a = held.get(set_of(*m, {"stem", "c1"}));
    EXPECT_NE(a, m);
    EXPECT_EQ(held.get(set_of(*m, {"stem", "c1"})), a);               // made once
    EXPECT_THROW(held.get(set_of(*m, {"c1"})), Error);                // not closed
    EXPECT_THROW(held.get(NodeSet(3, true)), Error);                  // wrong size
    EXPECT_THROW(held.get(set_of(*m, {"stem", "c1", "c2"})), Error);  // over capacity
}

TEST(DagCut, MinimumCutIsTheCheapestClosedSet) {
    auto m = branchy().load();
    const int n = m->size();
    std::mt19937 rng(7);
    std::uniform_real_distribution<double> ms(0.0, 2.0);
    int not_positions = 0;
    for (int trial = 0; trial < 200; ++trial) {
        std::vector<double> e(static_cast<size_t>(n)), c(static_cast<size_t>(n));
        for (int i = 0; i < n; ++i) e[size_t(i)] = ms(rng), c[size_t(i)] = ms(rng) * 0.3;
        const double price = std::pow(10.0, -5 + 4 * ms(rng) / 2);  // ms per byte
        double best = 1e300;
        for (uint32_t bits = 0; bits < (1u << n); ++bits) {
            NodeSet s(static_cast<size_t>(n), false);
            for (int i = 0; i < n; ++i) s[size_t(i)] = (bits >> i) & 1;
            if (closed_under_predecessors(*m, s))
                best = std::min(best, partition_cost(*m, s, e, c, price));
        }
        const NodeSet got = min_cost_partition(*m, e, c, price);
        ASSERT_TRUE(closed_under_predecessors(*m, got));
        EXPECT_NEAR(partition_cost(*m, got, e, c, price), best, 1e-9 * (1 + best))
            << "trial " << trial;
        not_positions += as_position_cut(got) < 0;
    }
    EXPECT_GT(not_positions, 0);  // the test reaches sets a position cut cannot make
}

TEST(DagCut, CandidatesAreDistinctClosedNonPositions) {
    auto dag = branchy().load();
    std::vector<double> e(size_t(dag->size()), 1.0), c(size_t(dag->size()), 0.1);
    // Nodes: stem, b1, c1, b2, ... The b branch is cheap here and shrinks its map; c1 is dear
    // here: {stem, b1, b2} (no position of the file order) sends stem + b2, less than b1.
    e[0] = e[1] = e[3] = 0.1;
    e[2] = 20;
    const auto sets = min_cut_partitions(*dag, e, c);
    ASSERT_FALSE(sets.empty());
    for (size_t i = 0; i < sets.size(); ++i) {
        EXPECT_TRUE(closed_under_predecessors(*dag, sets[i]));
        EXPECT_EQ(as_position_cut(sets[i]), -1);
        for (size_t j = 0; j < i; ++j) EXPECT_NE(sets[i], sets[j]);
    }
    auto chain = small_chain().load();
    EXPECT_TRUE(min_cut_partitions(*chain, std::vector<double>(size_t(chain->size()), 1.0),
                                   std::vector<double>(size_t(chain->size()), 0.1))
                    .empty());
}

}  // namespace nse::test
