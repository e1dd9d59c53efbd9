// The deployment phase's sweep: every registered op's seeded synthetic instances (its op
// record's sweep generator, layers/sweep.h), each built as a single-layer network.
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "engine/model.h"
#include "layers/sweep.h"

namespace nse {

// The sweep: about 1200 instances, a tenth of them with `quick`, in a seeded random order.
std::vector<SweepCase> make_configs(bool quick, uint32_t seed);
// The network of one instance, with seeded random weights.
std::shared_ptr<const Model> build(const SweepCase& c, std::mt19937& rng);
// A tensor of uniform values in [-0.1, 0.1).
Tensor random_tensor(const Shape& shape, std::mt19937& rng);

}  // namespace nse
