// Nearest-neighbour correction of a kind's linear cost model: a node is predicted by the linear
// fit times how far off that fit was, on the deployment samples, for the configurations most
// like the node (distance in log feature space). Regions of the shape space where the
// micro-kernels behave unlike the linear terms (huge feature maps, very deep reductions) then
// get the measured ratio, not a global compromise.
#pragma once

#include <vector>

namespace nse {

// The least any node is predicted to cost: 0.1 us (a flatten is a view; a small linear layer
// takes 0.3 us).
constexpr double kMinNodeMs = 1e-4;

struct Sample {
    std::vector<double> x;
    double ms = 0;
};

class NeighbourCorrection {
  public:
    static constexpr int kNeighbours = 6;

    NeighbourCorrection() = default;
    // `points` are deployment samples, `coef` the linear fit they are corrected against.
    NeighbourCorrection(std::vector<Sample> points, const std::vector<double>& coef);

    bool empty() const { return points_.empty(); }
    const std::vector<Sample>& points() const { return points_; }
    // Factor (in [0.5, 2]) to multiply the linear prediction of features x by. `skip` leaves one
    // point out (for leave-one-out validation); -1 uses all.
    double factor(const std::vector<double>& x, int skip = -1) const;

  private:
    std::vector<double> log_features(const std::vector<double>& x) const;

    std::vector<Sample> points_;
    std::vector<double> eps_;        // per feature: keeps log() finite for zero features
    std::vector<double> log_ratio_;  // per point: log(measured / linear prediction)
    std::vector<std::vector<double>> logx_;
};

// Linear prediction x . coef, floored at kMinNodeMs.
double linear_ms(const std::vector<double>& coef, const std::vector<double>& x);

}  // namespace nse
