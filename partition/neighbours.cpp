#include "partition/neighbours.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace nse {

double linear_ms(const std::vector<double>& coef, const std::vector<double>& x) {
    double ms = 0;
    for (size_t i = 0; i < x.size() && i < coef.size(); ++i) ms += coef[i] * x[i];
    return std::max(ms, kMinNodeMs);
}

NeighbourCorrection::NeighbourCorrection(std::vector<Sample> points,
                                         const std::vector<double>& coef)
    : points_(std::move(points)) {
    if (points_.empty()) return;
    const size_t d = points_[0].x.size();
    // A feature's zero sits 1e-3 of its mean below its other values in log space: zero and
    // non-zero (say, strided or not) are far apart, but not infinitely.
    eps_.assign(d, 0);
    for (const auto& p : points_)
        for (size_t j = 0; j < d; ++j) eps_[j] += std::fabs(p.x[j]) / points_.size();
    for (auto& e : eps_) e = std::max(1e-3 * e, 1e-12);
    for (const auto& p : points_) {
        logx_.push_back(log_features(p.x));
        log_ratio_.push_back(std::log(p.ms / linear_ms(coef, p.x)));
    }
}

std::vector<double> NeighbourCorrection::log_features(const std::vector<double>& x) const {
    std::vector<double> out(x.size());
    for (size_t j = 0; j < x.size(); ++j) out[j] = std::log(std::max(x[j], 0.0) + eps_[j]);
    return out;
}

double NeighbourCorrection::factor(const std::vector<double>& x, int skip) const {
    if (points_.empty() || x.size() != eps_.size()) return 1.0;
    const std::vector<double> q = log_features(x);
    std::vector<std::pair<double, int>> dist;
    for (size_t i = 0; i < points_.size(); ++i) {
        if (int(i) == skip) continue;
        double d2 = 0;
        for (size_t j = 0; j < q.size(); ++j) d2 += (logx_[i][j] - q[j]) * (logx_[i][j] - q[j]);
        dist.emplace_back(std::sqrt(d2), int(i));
    }
    const size_t k = std::min<size_t>(kNeighbours, dist.size());
    if (k == 0) return 1.0;
    std::partial_sort(dist.begin(), dist.begin() + k, dist.end());
    // Closer points count more (inverse square distance); 0.1 keeps an exact match from taking
    // all the weight (one sample's noise).
    double wsum = 0, lsum = 0;
    for (size_t i = 0; i < k; ++i) {
        const double w = 1.0 / ((dist[i].first + 0.1) * (dist[i].first + 0.1));
        wsum += w;
        lsum += w * log_ratio_[dist[i].second];
    }
    return std::exp(std::clamp(lsum / wsum, std::log(0.5), std::log(2.0)));
}

}  // namespace nse
