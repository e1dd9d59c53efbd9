// Profiles and models the latency-model tests share (defined in test_partition.cpp).
#pragma once

#include <memory>

#include "engine/model.h"
#include "partition/profile.h"

namespace nse::test {

// A profile where every kind costs `per_mflop` ms per MFLOP plus `base` ms.
DeviceProfile flat_profile(double base, double per_mflop);
// A 3x3 convolution on a 1100x1000 map (its 4.4 MB output gets it measured cold), a pool to
// 40x40, a flatten and a 1600 -> 50 linear layer (0.32 MB).
std::shared_ptr<const Model> weight_reads_model();

}  // namespace nse::test
