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
    b.graph["nodes"][1]["op"] = "cosh";
    expect_error([&] { b.load(); }, "node 'pool' (cosh): unknown op");
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

// input [1, 6, 12] tokens -> class token prepended -> linear to q|k|v -> attention of 2 heads.
ModelBuilder small_attention() {
    ModelBuilder b({1, 6, 12});
    b.node("cat", "concat", {"input"}, {{"dim", 1}, {"constant_at", 0}}, {"cls"})
        .weight("cls", {1, 1, 12})
        .node("qkv", "linear", {"cat"}, {}, {"qkv.weight", "qkv.bias"})
        .weight("qkv.weight", {36, 12})
        .weight("qkv.bias", {36})
        .node("attn", "attention", {"qkv"}, {{"heads", 2}})
        .output("attn");
    return b;
}

TEST(Model, AttentionAndConstantConcatShapesAndErrors) {
    auto m = small_attention().load();
    EXPECT_EQ(m->info(0).out_shape, (Shape{1, 7, 12}));
    EXPECT_EQ(m->info(1).out_shape, (Shape{1, 7, 36}));
    EXPECT_EQ(m->info(2).out_shape, (Shape{1, 7, 12}));
    EXPECT_DOUBLE_EQ(m->info(2).flops, 4.0 * 7 * 7 * 12);
    auto b = small_attention();
    b.graph["nodes"][2]["attrs"]["heads"] = 5;
    expect_error([&] { b.load(); }, "attention of 5 heads takes [N, L, 3 E]");
    auto c = small_attention();
    c.graph["nodes"][2]["attrs"]["heads"] = 0;
    expect_error([&] { c.load(); }, "attention heads must be in [1, 4096], got 0");
    auto d = small_attention();
    d.graph["nodes"][2]["attrs"]["scale"] = -1.0;
    expect_error([&] { d.load(); }, "attention scale must be a positive number");
    auto e = small_attention();
    e.weight("cls", {2, 1, 12});
    expect_error([&] { e.load(); }, "concat's constant piece must be [1, ...]");
    auto f = small_attention();
    f.weight("cls", {1, 1, 11});
    expect_error([&] { f.load(); }, "concat along dim 1 cannot join shapes");
    auto g = small_attention();
    g.graph["nodes"][0]["attrs"]["constant_at"] = 2;
    expect_error([&] { g.load(); }, "concat constant_at 2 is past its 1 inputs");
    auto h = small_attention();
    h.graph["nodes"][0]["attrs"]["dim"] = 0;
    expect_error([&] { h.load(); }, "joins along a dimension after the batch");
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
