// Fitting a kind's latency model to the deployment samples.
#pragma once

#include <vector>

#include "partition/profile.h"

namespace nse {

// Non-negative weighted least squares: minimises sum((x.coef - ms)^2 / ms^1.5), coef >= 0; then
// keeps the neighbour correction if, left out one sample at a time, it lowers the median
// relative error by at least a tenth and by at least a percentage point.
KindFit fit_kind(const std::vector<Sample>& samples);

}  // namespace nse
