// The one list of graph ops and the layer class that runs each.
#include <functional>
#include <utility>

#include "layers/activation.h"
#include "layers/combine.h"
#include "layers/conv2d.h"
#include "layers/linear.h"
#include "layers/pooling.h"

namespace nse {

namespace {
using Factory = std::function<std::unique_ptr<Layer>()>;

const std::vector<std::pair<std::string, Factory>>& registry() {
    static const std::vector<std::pair<std::string, Factory>> ops = {
        {"conv2d", [] { return std::make_unique<Conv2d>(); }},
        {"linear", [] { return std::make_unique<Linear>(); }},
        {"max_pool2d", [] { return std::make_unique<Pool2d>(true); }},
        {"avg_pool2d", [] { return std::make_unique<Pool2d>(false); }},
        {"adaptive_avg_pool2d", [] { return std::make_unique<AdaptiveAvgPool2d>(); }},
        {"relu", [] { return std::make_unique<ActivationLayer>(Activation::Relu); }},
        {"relu6", [] { return std::make_unique<ActivationLayer>(Activation::Relu6); }},
        {"softmax", [] { return std::make_unique<Softmax>(); }},
        {"add", [] { return std::make_unique<Add>(); }},
        {"concat", [] { return std::make_unique<Concat>(); }},
        {"flatten", [] { return std::make_unique<Flatten>(); }},
    };
    return ops;
}
}  // namespace

std::unique_ptr<Layer> make_layer(const std::string& op) {
    for (const auto& [name, factory] : registry())
        if (name == op) return factory();
    return nullptr;
}

std::vector<std::string> known_ops() {
    std::vector<std::string> names;
    for (const auto& entry : registry()) names.push_back(entry.first);
    return names;
}

}  // namespace nse
