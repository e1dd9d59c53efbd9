// Builds small synthetic nsengine model files for loader and runtime tests.
#pragma once

#include <string>
#include <vector>

#include "engine/model.h"
#include "tests/test_helpers.h"

namespace nse::test {

struct ModelBuilder {
    nlohmann::json graph;
    std::map<std::string, Tensor> tensors;
    std::map<std::string, std::string> metadata{{"nsengine.format", "1"},
                                                {"nsengine.model", "synthetic"}};

    explicit ModelBuilder(const Shape& input) {
        graph = {{"input", {{"name", "input"}, {"shape", input}}},
                 {"nodes", nlohmann::json::array()},
                 {"outputs", nlohmann::json::array()}};
    }
    ModelBuilder& node(const std::string& name, const std::string& op,
                       std::vector<std::string> inputs,
                       nlohmann::json attrs = nlohmann::json::object(),
                       std::vector<std::string> params = {}) {
        if (attrs.is_null()) attrs = nlohmann::json::object();
        graph["nodes"].push_back(
            {{"name", name}, {"op", op}, {"inputs", inputs}, {"attrs", attrs}, {"params", params}});
        return *this;
    }
    ModelBuilder& weight(const std::string& name, const Shape& shape, float start = -0.5f) {
        tensors[name] = filled(shape, start, 0.013f);
        return *this;
    }
    ModelBuilder& output(const std::string& name) {
        graph["outputs"].push_back(name);
        return *this;
    }
    std::string write(const std::string& file) {
        auto meta = metadata;
        if (!meta.count("nsengine.graph")) meta["nsengine.graph"] = graph.dump();
        const std::string path = temp_path(file);
        write_safetensors(path, tensors, meta);
        return path;
    }
    std::shared_ptr<const Model> load(const std::string& file = "m.safetensors") {
        return Model::load(write(file));
    }
};

// input [1,2,5,5] -> conv 3x3 pad 1 + relu -> max pool 2 -> flatten -> linear 12 -> 4
inline ModelBuilder small_chain() {
    ModelBuilder b({1, 2, 5, 5});
    b.node("conv", "conv2d", {"input"}, {{"padding", 1}, {"activation", "relu"}},
           {"conv.weight", "conv.bias"})
        .weight("conv.weight", {3, 2, 3, 3})
        .weight("conv.bias", {3})
        .node("pool", "max_pool2d", {"conv"}, {{"kernel_size", 2}})
        .node("flat", "flatten", {"pool"})
        .node("fc", "linear", {"flat"}, {}, {"fc.weight", "fc.bias"})
        .weight("fc.weight", {4, 12})
        .weight("fc.bias", {4})
        .output("fc");
    return b;
}

// A residual + concat DAG: a = conv(input); b = conv(a); s = add(a, b); c = concat(a, s);
// d = conv(c) (1x1); out = softmax(flatten(avgpool(d))).
inline ModelBuilder small_dag() {
    ModelBuilder b({1, 3, 8, 8});
    b.node("a", "conv2d", {"input"}, {{"padding", 1}, {"activation", "relu6"}},
           {"a.weight", "a.bias"})
        .weight("a.weight", {4, 3, 3, 3})
        .weight("a.bias", {4})
        .node("b", "conv2d", {"a"}, {{"padding", 1}, {"groups", 4}}, {"b.weight", "b.bias"})
        .weight("b.weight", {4, 1, 3, 3})
        .weight("b.bias", {4})
        .node("s", "add", {"a", "b"}, {{"activation", "relu"}})
        .node("c", "concat", {"a", "s"}, {{"dim", 1}})
        .node("d", "conv2d", {"c"}, {}, {"d.weight", "d.bias"})
        .weight("d.weight", {5, 8, 1, 1})
        .weight("d.bias", {5})
        .node("gap", "adaptive_avg_pool2d", {"d"}, {{"output_size", 1}})
        .node("flat", "flatten", {"gap"})
        .node("prob", "softmax", {"flat"}, {{"dim", 1}})
        .output("prob");
    return b;
}

}  // namespace nse::test
