#include "lab/fit.h"

#include <algorithm>
#include <cmath>

#include "base/stats.h"

namespace nse {

KindFit fit_kind(const std::vector<Sample>& samples) {
    KindFit fit;
    fit.samples = int(samples.size());
    if (samples.empty()) return fit;
    const size_t d = samples[0].x.size();
    // Weighted normal equations with weight ms^-1.5: between absolute error (which only the big
    // layers would steer) and relative error (which the many tiny ones would); columns scaled
    // to unit weighted RMS for conditioning.
    std::vector<double> scale(d, 0);
    for (const auto& s : samples)
        for (size_t j = 0; j < d; ++j) scale[j] += s.x[j] * s.x[j] / std::pow(s.ms, 1.5);
    for (auto& v : scale) v = v > 0 ? std::sqrt(v / samples.size()) : 1;
    std::vector<double> G(d * d, 0), b(d, 0);
    for (const auto& s : samples) {
        const double w = 1.0 / std::pow(s.ms, 1.5);
        for (size_t i = 0; i < d; ++i) {
            b[i] += w * (s.x[i] / scale[i]) * s.ms;
            for (size_t j = 0; j < d; ++j)
                G[i * d + j] += w * (s.x[i] / scale[i]) * (s.x[j] / scale[j]);
        }
    }
    for (size_t i = 0; i < d; ++i) G[i * d + i] += 1e-9 * samples.size();  // tiny ridge
    // Projected coordinate descent: converges to the non-negative least-squares solution.
    std::vector<double> beta(d, 0);
    for (int sweep = 0; sweep < 5000; ++sweep) {
        double change = 0;
        for (size_t i = 0; i < d; ++i) {
            double g = -b[i];
            for (size_t j = 0; j < d; ++j) g += G[i * d + j] * beta[j];
            const double next = std::max(0.0, beta[i] - g / G[i * d + i]);
            change = std::max(change, std::fabs(next - beta[i]));
            beta[i] = next;
        }
        if (change < 1e-12) break;
    }
    fit.coef.resize(d);
    for (size_t j = 0; j < d; ++j) fit.coef[j] = beta[j] / scale[j];
    // The points travel in every HELLO_ACK: four significant digits (well under the
    // measurements' noise) keep the profile small.
    std::vector<Sample> points = samples;
    for (Sample& p : points) {
        p.ms = round_significant(p.ms);
        for (double& v : p.x) v = round_significant(v);
    }
    std::vector<double> linear_err, corrected_err;
    NeighbourCorrection correction(std::move(points), fit.coef);
    for (size_t i = 0; i < samples.size(); ++i) {
        const Sample& s = samples[i];
        const double p = linear_ms(fit.coef, s.x);
        linear_err.push_back(std::fabs(p - s.ms) / s.ms);
        const double q = p * correction.factor(s.x, int(i));
        corrected_err.push_back(std::fabs(q - s.ms) / s.ms);
    }
    fit.linear_rel_error = fit.median_rel_error = median(linear_err);
    const double corrected = median(corrected_err);
    if (samples.size() > size_t(2 * NeighbourCorrection::kNeighbours) &&
        corrected < 0.9 * fit.linear_rel_error && fit.linear_rel_error - corrected > 0.01) {
        fit.correction = std::move(correction);
        fit.median_rel_error = corrected;
    }
    return fit;
}

}  // namespace nse
