#include "partition/speed.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "base/stats.h"

namespace nse {

void SpeedTracker::add(double measured_ms, double predicted_ms, Clock::time_point now) {
    if (!(predicted_ms >= kMinPredictedMs) || !std::isfinite(measured_ms) || measured_ms <= 0)
        return;
    samples_.push_back({now, std::clamp(measured_ms / predicted_ms, 1 / kMaxRatio, kMaxRatio)});
    if (samples_.size() > kWindow) samples_.pop_front();
}

double SpeedTracker::factor(Clock::time_point now) const {
    std::vector<double> recent;
    for (const Sample& s : samples_)
        if (now - s.at <= kMaxAge) recent.push_back(s.ratio);
    return recent.size() < kMinSamples ? 1.0 : median(std::move(recent));
}

}  // namespace nse
