// Small statistics the measurements share (deployment, profiling, benchmarks).
#pragma once

#include <algorithm>
#include <cmath>
#include <utility>
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

// y at x on the piecewise-linear curve through (x, y) points ascending in x > 0, x taken on a
// log scale; constant beyond the ends. `points` must not be empty.
inline double log_interpolate(const std::vector<std::pair<double, double>>& points, double x) {
    if (x <= points.front().first) return points.front().second;
    if (x >= points.back().first) return points.back().second;
    size_t i = 1;
    while (points[i].first < x) ++i;
    const auto& [x0, y0] = points[i - 1];
    const auto& [x1, y1] = points[i];
    return y0 + std::log(x / x0) / std::log(x1 / x0) * (y1 - y0);
}

// `v` rounded to `digits` significant digits (0 and non-finite values unchanged): what a profile
// keeps of its measurements, well under their noise.
inline double round_significant(double v, int digits = 4) {
    if (v == 0 || !std::isfinite(v)) return v;
    const double scale = std::pow(10.0, digits - 1 - int(std::floor(std::log10(std::fabs(v)))));
    return std::round(v * scale) / scale;
}

}  // namespace nse
