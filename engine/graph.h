// The network as stored in a model file's metadata: one input, nodes in topological order (each
// producing one tensor named after the node), and the output tensor names.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/tensor.h"

namespace nse {

struct Node {
    std::string name;
    std::string op;
    std::vector<std::string> inputs;  // tensor names: the graph input or earlier nodes
    nlohmann::json attrs = nlohmann::json::object();
    std::vector<std::string> params;  // weight tensor names in the model file
};

struct Graph {
    std::string input_name;
    Shape input_shape;  // batch 1
    std::vector<Node> nodes;
    std::vector<std::string> outputs;

    // Parses and checks structure: unique names, inputs defined before use, outputs defined.
    // Throws Error(InvalidModel) naming the node at fault.
    static Graph from_json(const std::string& text);
    nlohmann::json to_json() const;
};

}  // namespace nse
