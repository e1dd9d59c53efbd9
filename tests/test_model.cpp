// Loading model files: structure, shapes and weights are checked against the graph, and every
// inconsistency becomes a clear error naming the node.
#include "tests/model_builder.h"

namespace nse::test {

TEST(Model, LoadsAndReportsShapesAndCosts) {
    auto m = small_chain().load();
    ASSERT_EQ(m->size(), 4);
    EXPECT_EQ(m->info(0).out_shape, (Shape{1, 3, 5, 5}));
    EXPECT_EQ(m->info(1).out_shape, (Shape{1, 3, 2, 2}));
    EXPECT_EQ(m->info(2).out_shape, (Shape{1, 12}));
    EXPECT_EQ(m->info(3).out_shape, (Shape{1, 4}));
    EXPECT_DOUBLE_EQ(m->info(0).flops, 2.0 * 3 * 5 * 5 * 2 * 3 * 3);
    EXPECT_DOUBLE_EQ(m->info(3).flops, 2.0 * 4 * 12);
    EXPECT_EQ(m->info(0).param_bytes, (3 * 2 * 3 * 3 + 3) * 4u);
    EXPECT_EQ(m->info(1).out_bytes, 12 * 4u);
}

TEST(Model, UnknownOp) {
    auto b = small_chain();
    b.graph["nodes"][1]["op"] = "tanh";
    expect_error([&] { b.load(); }, "node 'pool' (tanh): unknown op");
}

TEST(Model, MissingWeight) {
    auto b = small_chain();
    b.tensors.erase("fc.bias");
    expect_error([&] { b.load(); }, "weight tensor 'fc.bias' is not in the file");
}

TEST(Model, UnusedTensor) {
    auto b = small_chain();
    b.weight("stray", {3});
    expect_error([&] { b.load(); }, "tensor 'stray' is not used");
}

TEST(Model, WeightShapeDoesNotFitInput) {
    auto b = small_chain();
    b.weight("conv.weight", {3, 5, 3, 3});
    expect_error([&] { b.load(); }, "expects 5 input channels");
    auto c = small_chain();
    c.weight("fc.weight", {4, 13});
    expect_error([&] { c.load(); }, "node 'fc' (linear)");
    auto d = small_chain();
    d.weight("conv.bias", {4});
    expect_error([&] { d.load(); }, "conv2d bias must be [3]");
}

TEST(Model, NotTopologicalOrDuplicate) {
    auto b = small_chain();
    std::swap(b.graph["nodes"][1], b.graph["nodes"][2]);
    expect_error([&] { b.load(); }, "no earlier node produces");
    auto c = small_chain();
    c.graph["nodes"][2]["name"] = "pool";
    c.graph["nodes"][3]["inputs"] = {"pool"};
    expect_error([&] { c.load(); }, "already used");
}

TEST(Model, BadMetadata) {
    auto b = small_chain();
    b.metadata["nsengine.format"] = "9";
    expect_error([&] { b.load(); }, "format 9 is not supported");
    auto c = small_chain();
    c.metadata.erase("nsengine.format");
    expect_error([&] { c.load(); }, "not an nsengine model file");
    auto d = small_chain();
    d.metadata["nsengine.graph"] = "{broken";
    expect_error([&] { d.load(); }, "not a JSON object");
}

TEST(Model, BadAttributesAndArity) {
    auto b = small_chain();
    b.graph["nodes"][0]["attrs"]["stride"] = "two";
    expect_error([&] { b.load(); }, "attribute 'stride'");
    auto c = small_chain();
    c.graph["nodes"][0]["attrs"]["activation"] = "tanh";
    expect_error([&] { c.load(); }, "unknown activation 'tanh'");
    auto d = small_chain();
    d.graph["nodes"][1]["attrs"]["kernel_size"] = 9;
    expect_error([&] { d.load(); }, "window does not fit");
    auto e = small_dag();
    e.graph["nodes"][2]["inputs"] = {"a"};
    expect_error([&] { e.load(); }, "add needs two operands (inputs and constant), got 1");
    auto f = small_chain();
    f.graph["outputs"] = {"nothing"};
    expect_error([&] { f.load(); }, "graph output 'nothing'");
}

TEST(Model, AliasesAndPaths) {
    EXPECT_EQ(canonical_model_name("mobilenet"), "mobilenet_v2");
    EXPECT_EQ(canonical_model_name("mobile_net"), "mobilenet_v2");
    EXPECT_EQ(canonical_model_name("alex_net"), "alexnet");
    EXPECT_EQ(canonical_model_name("vgg_net"), "vgg16");
    EXPECT_EQ(canonical_model_name("le_net"), "lenet");
    EXPECT_EQ(canonical_model_name("resnet18"), "resnet18");
    EXPECT_EQ(model_path("models", "le_net"), "models/lenet.safetensors");
}

}  // namespace nse::test
