// Small statistics the measurements share (deployment, profiling, benchmarks).
#pragma once

#include <algorithm>
#include <vector>

namespace nse {

// The median: the middle value, or the mean of the two middle ones for an even count; 0 for none.
inline double median(std::vector<double> v) {
    if (v.empty()) return 0;
    const size_t m = v.size() / 2;
    std::nth_element(v.begin(), v.begin() + m, v.end());
    if (v.size() % 2) return v[m];
    return 0.5 * (*std::max_element(v.begin(), v.begin() + m) + v[m]);
}

}  // namespace nse
