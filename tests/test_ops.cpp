// The op records (layers/op.h): every registered op is complete — a layer, cost kinds, a sweep
// generator whose instances run as the kinds they claim, and a GPU kernel or the declared CPU
// fallback — and the element-wise sigmoid in a model.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "engine/executor.h"
#include "engine/runtime.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/reference/reference.h"
#include "lab/sweep.h"
#include "layers/op.h"
#include "partition/features.h"
#include "tests/kernel_tester.h"
#include "tests/model_builder.h"

namespace nse::test {

TEST(Ops, EveryRecordIsComplete) {
    std::set<std::string> names;
    for (const OpRecord& op : op_records()) {
        SCOPED_TRACE(op.name);
        EXPECT_TRUE(names.insert(op.name).second) << "registered twice";
        ASSERT_NE(op.make, nullptr);
        EXPECT_NE(op.make(), nullptr);
        EXPECT_FALSE(op.kinds.empty()) << "no cost kind";
        for (const CostKind* k : op.kinds) {
            ASSERT_NE(k, nullptr);
            EXPECT_FALSE(k->name.empty());
            ASSERT_FALSE(k->features.empty());
            EXPECT_EQ(k->features[0], "1") << k->name << ": the first feature is the constant";
        }
        EXPECT_NE(op.sweep, nullptr) << "no sweep generator";
        // Either a CUDA kernel or the declaration that the op has none; with the CUDA backend
        // built, a declared kernel has its factory.
        if (op.gpu.kernel) {
            EXPECT_EQ(op.gpu.make != nullptr, cuda_backend_built());
        } else {
            EXPECT_EQ(op.gpu.make, nullptr) << "a factory without the declaration";
        }
        EXPECT_EQ(find_op(op.name), &op);
    }
    EXPECT_EQ(find_op("no_such_op"), nullptr);
    EXPECT_EQ(make_layer("no_such_op"), nullptr);
}

TEST(Ops, CostKindsAreUniqueByName) {
    std::set<std::string> names;
    for (const CostKind* k : cost_kind_list()) {
        EXPECT_TRUE(names.insert(k->name).second) << k->name << " declared by two kinds";
        EXPECT_EQ(find_cost_kind(k->name), k);
    }
    EXPECT_EQ(cost_kinds().size(), cost_kind_list().size());
}

// Every instance a generator makes is of its op and, built as a one-node network, runs as one of
// the op's declared kinds (the layer decides which: a general 3x3 convolution of the sweep may
// run as Winograd); every kind of the op that this CPU has appears in the sweep.
TEST(Ops, SweepInstancesRunAsTheOpsKinds) {
    std::mt19937 rng(3);
    for (const OpRecord& op : op_records()) {
        SCOPED_TRACE(op.name);
        std::set<std::string> declared, seen;
        for (const CostKind* k : op.kinds) declared.insert(k->name);
        {  // the quick sweep (a tenth of the full one) has a few of each kind
            std::vector<SweepCase> cases;
            SweepContext ctx(rng, /*quick=*/true, cases);
            op.sweep(ctx);
            EXPECT_FALSE(cases.empty()) << "the generator makes nothing";
            for (const SweepCase& c : cases) {
                ASSERT_EQ(c.op, op.name) << c.desc;
                EXPECT_TRUE(declared.count(c.kind)) << c.desc << " aims at undeclared " << c.kind;
                auto model = build(c, rng);
                const NodeFeatures f =
                    node_features(*model, 0, std::vector<Shape>(c.inputs, c.input));
                EXPECT_TRUE(declared.count(f.kind)) << c.desc << " runs as undeclared " << f.kind;
                EXPECT_EQ(f.x.size(), feature_names(f.kind).size()) << c.desc;
                seen.insert(f.kind);
            }
        }
        for (const CostKind* k : op.kinds) {
            if (!k->runs_here()) continue;
            EXPECT_TRUE(seen.count(k->name)) << k->name << " never swept";
        }
    }
}

TEST(Sigmoid, LayerRunsInAModelAndSplits) {
    ModelBuilder b({1, 3, 4, 4});
    b.node("conv", "conv2d", {"input"}, {{"padding", 1}}, {"w"})
        .weight("w", {4, 3, 3, 3})
        .node("gate", "sigmoid", {"conv"})
        .node("flat", "flatten", {"gate"})
        .output("flat");
    auto m = b.load("sigmoid.safetensors");
    EXPECT_EQ(model_features(*m)[1].kind, "sigmoid");
    Runtime rt(m, current_test_pool());
    const Tensor x = filled({1, 3, 4, 4}, -1.f, 0.05f);
    Tensor conv = rt.run(0, 1, {x})[0].clone();
    const Tensor& y = rt.run(1, 3, {conv})[0];
    ASSERT_EQ(y.numel(), conv.numel());
    for (int64_t i = 0; i < y.numel(); ++i)
        EXPECT_NEAR(y.data()[i], 1.0 / (1.0 + std::exp(-double(conv.data()[i]))), 1e-6);
    expect_error(
        [] {
            ModelBuilder bad({1, 2});
            bad.node("s", "sigmoid", {"input"}, {}, {"w"}).weight("w", {2}).output("s");
            bad.load("sigmoid_bad.safetensors");
        },
        "sigmoid takes 0 weight tensors");
}

}  // namespace nse::test
