#include "engine/graph.h"

#include <set>

#include "base/error.h"

namespace nse {

namespace {

std::string get_string(const nlohmann::json& j, const char* key, const std::string& where) {
    NSE_CHECK(j.contains(key) && j[key].is_string(), ErrorCode::InvalidModel, where, ": field '",
              key, "' must be a string");
    return j[key].get<std::string>();
}

std::vector<std::string> get_strings(const nlohmann::json& j, const char* key,
                                     const std::string& where) {
    std::vector<std::string> out;
    if (!j.contains(key)) return out;
    NSE_CHECK(j[key].is_array(), ErrorCode::InvalidModel, where, ": field '", key,
              "' must be a list of strings");
    for (const auto& v : j[key]) {
        NSE_CHECK(v.is_string(), ErrorCode::InvalidModel, where, ": field '", key,
                  "' must be a list of strings");
        out.push_back(v.get<std::string>());
    }
    return out;
}

}  // namespace

Graph Graph::from_json(const std::string& text) {
    nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
    NSE_CHECK(!j.is_discarded() && j.is_object(), ErrorCode::InvalidModel,
              "graph: metadata nsengine.graph is not a JSON object");
    Graph g;
    NSE_CHECK(j.contains("input") && j["input"].is_object(), ErrorCode::InvalidModel,
              "graph: missing 'input' object");
    g.input_name = get_string(j["input"], "name", "graph input");
    const auto& shape = j["input"].contains("shape") ? j["input"]["shape"] : nlohmann::json();
    NSE_CHECK(shape.is_array() && !shape.empty() && shape.size() <= 8, ErrorCode::InvalidModel,
              "graph input: 'shape' must be a list of 1 to 8 dimensions");
    for (const auto& d : shape) {
        NSE_CHECK(d.is_number_integer() && d.get<int64_t>() >= 1 && d.get<int64_t>() <= (1 << 24),
                  ErrorCode::InvalidModel, "graph input: shape ", shape.dump(),
                  " must hold positive integers");
        g.input_shape.push_back(d.get<int64_t>());
    }

    NSE_CHECK(j.contains("nodes") && j["nodes"].is_array() && !j["nodes"].empty(),
              ErrorCode::InvalidModel, "graph: 'nodes' must be a non-empty list");
    std::set<std::string> defined = {g.input_name};
    for (size_t i = 0; i < j["nodes"].size(); ++i) {
        const auto& jn = j["nodes"][i];
        const std::string where = "graph node #" + std::to_string(i);
        NSE_CHECK(jn.is_object(), ErrorCode::InvalidModel, where, " is not an object");
        Node n;
        n.name = get_string(jn, "name", where);
        n.op = get_string(jn, "op", "graph node '" + n.name + "'");
        n.inputs = get_strings(jn, "inputs", "graph node '" + n.name + "'");
        n.params = get_strings(jn, "params", "graph node '" + n.name + "'");
        if (jn.contains("attrs")) {
            NSE_CHECK(jn["attrs"].is_object(), ErrorCode::InvalidModel, "graph node '", n.name,
                      "': 'attrs' must be an object");
            n.attrs = jn["attrs"];
        }
        NSE_CHECK(!n.name.empty() && !defined.count(n.name), ErrorCode::InvalidModel,
                  "graph node '", n.name, "': name is empty or already used");
        NSE_CHECK(!n.inputs.empty(), ErrorCode::InvalidModel, "graph node '", n.name,
                  "' has no inputs");
        for (const auto& in : n.inputs)
            NSE_CHECK(defined.count(in), ErrorCode::InvalidModel, "graph node '", n.name,
                      "' reads '", in,
                      "', which no earlier node produces (nodes must be in "
                      "topological order)");
        defined.insert(n.name);
        g.nodes.push_back(std::move(n));
    }
    g.outputs = get_strings(j, "outputs", "graph");
    NSE_CHECK(!g.outputs.empty(), ErrorCode::InvalidModel, "graph: 'outputs' must not be empty");
    for (const auto& out : g.outputs)
        NSE_CHECK(defined.count(out) && out != g.input_name, ErrorCode::InvalidModel,
                  "graph output '", out, "' is not produced by any node");
    return g;
}

nlohmann::json Graph::to_json() const {
    nlohmann::json nodes_json = nlohmann::json::array();
    for (const auto& n : nodes)
        nodes_json.push_back({{"name", n.name},
                              {"op", n.op},
                              {"inputs", n.inputs},
                              {"attrs", n.attrs},
                              {"params", n.params}});
    return {{"input", {{"name", input_name}, {"shape", input_shape}}},
            {"nodes", nodes_json},
            {"outputs", outputs}};
}

}  // namespace nse
