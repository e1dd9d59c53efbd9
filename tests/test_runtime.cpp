// Runtime: cut live sets, split runs equal to whole runs bit for bit, input checks, batches,
// and no allocation once a (model, cut) has run.
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>

#include "engine/runtime.h"
#include "tests/model_builder.h"

// Replacing the global allocator is legal C++; GCC's heuristic warning about it is not useful.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace {
std::atomic<long> g_news{0};
}
// Counts every C++ allocation in this test binary.
void* operator new(size_t n) {
    g_news.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(n ? n : 1)) return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }

namespace nse::test {

namespace {
std::vector<std::string> names(const Model& m, const std::vector<int>& ids) {
    std::vector<std::string> out;
    for (int id : ids) out.push_back(m.tensor_name(id));
    return out;
}

Tensor input_for(const Model& m, int64_t batch = 1, float start = -1.f) {
    Shape s = m.graph().input_shape;
    s[0] = batch;
    return filled(s, start, 0.021f);
}
}  // namespace

TEST(Runtime, LiveSetsOfADag) {
    auto m = small_dag().load();
    using V = std::vector<std::string>;
    EXPECT_EQ(names(*m, m->live_at(0)), V{"input"});
    EXPECT_EQ(names(*m, m->live_at(1)), V{"a"});
    EXPECT_EQ(names(*m, m->live_at(2)), (V{"a", "b"}));
    EXPECT_EQ(names(*m, m->live_at(3)), (V{"a", "s"}));
    EXPECT_EQ(names(*m, m->live_at(4)), V{"c"});
    EXPECT_EQ(names(*m, m->live_at(m->size())), V{"prob"});
    EXPECT_EQ(m->live_bytes(2), 2 * 4 * 8 * 8 * 4u);
}

TEST(Runtime, EverySplitEqualsTheWholeRunExactly) {
    for (auto builder : {small_chain(), small_dag()}) {
        auto m = builder.load();
        Runtime whole(m, current_test_pool()), split(m, current_test_pool());
        Tensor x = input_for(*m);
        Tensor full = whole.run(x).clone();
        for (int k = 0; k <= m->size(); ++k) {
            std::vector<Tensor> mid;
            for (const Tensor& t : split.run(0, k, {x})) mid.push_back(t.clone());
            const std::vector<Tensor>& out = split.run(k, m->size(), mid);
            ASSERT_EQ(out.size(), 1u);
            ASSERT_EQ(out[0].shape(), full.shape());
            EXPECT_EQ(0, std::memcmp(out[0].data(), full.data(), full.bytes())) << "cut " << k;
        }
    }
}

TEST(Runtime, SoftmaxOutputOfDagSumsToOne) {
    auto m = small_dag().load();
    Runtime rt(m, current_test_pool());
    const Tensor& y = rt.run(input_for(*m));
    double sum = 0;
    for (int64_t i = 0; i < y.numel(); ++i) sum += y.data()[i];
    EXPECT_NEAR(sum, 1.0, 1e-5);
}

TEST(Runtime, RejectsWrongInputs) {
    auto m = small_dag().load();
    Runtime rt(m, current_test_pool());
    expect_error([&] { rt.run(filled({1, 3, 8, 9})); }, "must have shape [1, 3, 8, 8]");
    Tensor a = filled({1, 4, 8, 8});
    expect_error([&] { rt.run(2, m->size(), {a}); }, "has 2 live tensor(s), got 1");
    expect_error([&] { rt.run(3, 1, {a}); }, "is not within");
    expect_error([&] { rt.run(0, 99, {a}); }, "is not within");
}

TEST(Runtime, BatchEqualsSeparateRuns) {
    auto m = small_dag().load();
    Runtime rt(m, current_test_pool());
    Tensor one = input_for(*m, 1, -1.f), two = input_for(*m, 1, 0.5f);
    Tensor y1 = rt.run(one).clone(), y2 = rt.run(two).clone();
    Tensor both = Tensor::zeros({2, 3, 8, 8});
    std::memcpy(both.data(), one.data(), one.bytes());
    std::memcpy(both.data() + one.numel(), two.data(), two.bytes());
    const Tensor& yb = rt.run(both);
    ASSERT_EQ(yb.shape(), (Shape{2, 5}));
    for (int64_t i = 0; i < 5; ++i) {
        EXPECT_NEAR(yb.data()[i], y1.data()[i], 1e-6);
        EXPECT_NEAR(yb.data()[5 + i], y2.data()[i], 1e-6);
    }
}

TEST(Runtime, ABatchGivenTheWrongTensorsIsRefused) {
    auto m = small_dag().load();
    Runtime rt(m, current_test_pool());
    const int n = m->size();
    Tensor two = Tensor::zeros({2, 3, 8, 8});
    rt.run(two);  // a batch runs
    expect_error([&] { rt.run(0, n, {two, two}); }, "live tensor(s), got 2");
    expect_error([&] { rt.run(0, n, {Tensor::zeros({2, 3, 8, 9})}); }, "must have shape");
}

TEST(Runtime, NoAllocationAfterFirstRun) {
    auto m = small_dag().load();
    Runtime rt(m, current_test_pool());
    Tensor x = input_for(*m);
    std::vector<Tensor> live{x};
    rt.run(x);
    rt.run(0, 3, live);
    const size_t planned = rt.planned_floats();
    const long before = g_news.load();
    for (int i = 0; i < 5; ++i) {
        rt.run(x);
        rt.run(0, 3, live);
    }
    EXPECT_EQ(g_news.load() - before, 0);
    EXPECT_EQ(rt.planned_floats(), planned);
}

TEST(Runtime, PreparedRangeRunsWithoutAllocatingAndAsUnprepared) {
    auto m = small_dag().load();
    Runtime prepared(m, current_test_pool()), plain(m, current_test_pool());
    Tensor x = input_for(*m);
    std::vector<Tensor> live{x};
    prepared.prepare(0, 3, 1);
    const size_t planned = prepared.planned_floats();
    EXPECT_GT(planned, 0u);
    prepared.prepare(0, 3, 1);  // again: nothing new
    EXPECT_EQ(prepared.planned_floats(), planned);
    const long before = g_news.load();
    const std::vector<Tensor>& a = prepared.run(0, 3, live);
    EXPECT_EQ(g_news.load() - before, 0);
    const std::vector<Tensor>& b = plain.run(0, 3, live);
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i)
        EXPECT_EQ(std::memcmp(a[i].data(), b[i].data(), a[i].bytes()), 0);
    EXPECT_THROW(prepared.prepare(2, 1, 1), Error);
    EXPECT_THROW(prepared.prepare(0, m->size() + 1, 1), Error);
}

TEST(Runtime, ArenaReusesMemoryAlongAChain) {
    // Eight 1x1 convs in a row: a lifetime-aware arena needs two buffers, not eight.
    ModelBuilder b({1, 16, 32, 32});
    std::string prev = "input";
    for (int i = 0; i < 8; ++i) {
        const std::string n = "c" + std::to_string(i);
        b.node(n, "conv2d", {prev}, {}, {n + ".w"}).weight(n + ".w", {16, 16, 1, 1});
        prev = n;
    }
    b.output(prev);
    auto m = b.load();
    Runtime rt(m, current_test_pool());
    rt.run(input_for(*m));
    EXPECT_LE(rt.planned_floats(), 2u * 16 * 32 * 32);
}

}  // namespace nse::test
