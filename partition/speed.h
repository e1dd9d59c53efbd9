// How fast a side (the edge, or the cloud) runs now against its profile's predictions: the
// profile is fitted once, at deploy, but a device slows down under another program's load, a
// thermal limit or a noisy neighbour (the 2-vCPU machine here ran 40 % slower for hours). The
// edge times its own prefixes and reads the cloud's compute time in every RESULT; the planner
// scales each side's predictions by the median measured/predicted ratio of its recent requests.
#pragma once

#include <chrono>
#include <deque>

namespace nse {

class SpeedTracker {
  public:
    using Clock = std::chrono::steady_clock;

    // One request's measured time for work the profile predicted at `predicted_ms`. Work
    // predicted under kMinPredictedMs is too short to time against its prediction: ignored.
    void add(double measured_ms, double predicted_ms, Clock::time_point now = Clock::now());
    // The factor to multiply this side's predictions by: the median ratio of the last kWindow
    // samples younger than kMaxAge, each clamped to [1/kMaxRatio, kMaxRatio]; 1 without such
    // samples (a side not used for a while is trusted again, so a slow spell that sent all work
    // elsewhere does not keep it there). The first sample counts at once: under load an edge
    // that waited for three slow requests before believing them kept all 32 edges local for
    // their first 6 s while the cloud idled (docs/serving.md); a cold first request is rare
    // since the edge prepares its likely cuts' plans at connect, and is outvoted by the third.
    // A step in speed is followed after 3 requests.
    double factor(Clock::time_point now = Clock::now()) const;
    // Whether a sample was added at or after `t`.
    bool sampled_since(Clock::time_point t) const {
        return !samples_.empty() && samples_.back().at >= t;
    }

    static constexpr double kMinPredictedMs = 0.05;
    // As slow as 32 edges sharing one core run (measured: 250 ms for an 8 ms prefix), not more.
    static constexpr double kMaxRatio = 64;
    static constexpr size_t kWindow = 5;
    static constexpr size_t kMinSamples = 1;
    static constexpr std::chrono::seconds kMaxAge{10};

  private:
    struct Sample {
        Clock::time_point at;
        double ratio;
    };
    std::deque<Sample> samples_;
};

}  // namespace nse
