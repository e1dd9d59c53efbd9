// The deployment phase's sweep: seeded synthetic single-layer networks for every kernel kind,
// with shapes drawn from the ranges real CNNs use but not taken from the evaluated models.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "engine/model.h"

namespace nse {

// One synthetic single-node network.
struct Config {
    std::string kind, op, desc;
    Shape input;
    nlohmann::json attrs = nlohmann::json::object();
    std::vector<Shape> params;
    int inputs = 1;  // add/concat take the input twice

    Config(std::string kind_, std::string op_, std::string desc_, Shape input_)
        : kind(std::move(kind_)),
          op(std::move(op_)),
          desc(std::move(desc_)),
          input(std::move(input_)) {}
};

// The sweep: about 1200 configurations, a tenth of them with `quick`, in a seeded random order.
std::vector<Config> make_configs(bool quick, uint32_t seed);
// The network of one configuration, with seeded random weights.
std::shared_ptr<const Model> build(const Config& c, std::mt19937& rng);
// A tensor of uniform values in [-0.1, 0.1).
Tensor random_tensor(const Shape& shape, std::mt19937& rng);

}  // namespace nse
