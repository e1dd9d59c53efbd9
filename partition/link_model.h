// The edge's model of its uplink, learned from its own transfers (INFER and PROBE messages: bytes,
// when they left, and the cloud's first-to-last-byte receive time) and small round trips:
//   transfer_ms(bytes) = min(bytes, tokens)/peak + max(0, bytes - tokens)/rate
// a token bucket (shaped uplinks, Wi-Fi and cellular links let a burst through at the line's
// peak, then hold to a sustained rate) whose level the model tracks through every transfer it
// saw, refilling at `rate` up to `burst` while the link is idle. A plain rate is the case
// burst = 0. Fitted over the recent transfers by a weighted L1 search (robust to one stall or
// one burst); when the two newest transfers that met the sustained rate both miss the fit by
// over 1.5x the same way, the older ones are dropped, so a real change is followed within two or
// three requests.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <vector>

namespace nse {

class LinkModel {
  public:
    using Clock = std::chrono::steady_clock;

    // An upload of `bytes` that left the edge at `start` and took `receive_ms` at the cloud.
    // Every transfer drains the bucket; those under kMinBytes are not fitted, nor those whose
    // time is not to be trusted (`fit` false).
    void add_upload(size_t bytes, double receive_ms, Clock::time_point start = Clock::now(),
                    bool fit = true);
    // A round trip with negligible payload and cloud time.
    void add_rtt(double ms);

    bool has_bandwidth() const { return fitted_; }
    // The sustained rate, bytes per millisecond; `fallback` before any timed transfer.
    double upload_bytes_per_ms(double fallback = 1e3) const { return fitted_ ? rate_ : fallback; }
    // Download is not measured separately (replies are a few KB); links are taken as symmetric.
    double download_bytes_per_ms(double fallback = 1e3) const {
        return upload_bytes_per_ms(fallback);
    }
    // The rate inside a burst (the fastest transfer seen), bytes per millisecond.
    double peak_bytes_per_ms() const { return fitted_ ? peak_ : 0; }
    double burst_bytes() const { return fitted_ ? burst_ : 0; }
    // The bucket's level at `at`, from the last transfer's and the idle time since.
    double burst_available(Clock::time_point at = Clock::now()) const;
    // Predicted time for `bytes` leaving at `at`.
    double transfer_ms(double bytes, Clock::time_point at = Clock::now()) const;
    double rtt_ms(double fallback = 1.0) const;
    size_t upload_samples() const;

    static constexpr size_t kMinBytes = 8 * 1024;
    static constexpr size_t kWindow = 12;

  private:
    struct Sample {
        Clock::time_point start;
        double bytes = 0, ms = 0;
        bool timed = false;
    };
    struct Fit {
        double rate = 0, peak = 0, burst = 0, cost = 0;
        double level_end = 0;  // bucket level when the last sample ended
        int crossed = 0;       // timed transfers that spent most of their time past the bucket
    };
    // Replays the window through a bucket of (rate, peak, burst): the weighted L1 cost of its
    // log misses, the level after it, and (when asked) each transfer's miss and whether it
    // spent most of its time at the sustained rate.
    Fit simulate(double rate, double peak, double burst, std::vector<double>* misses = nullptr,
                 std::vector<bool>* crossed = nullptr) const;
    void refit();

    std::deque<Sample> samples_;
    std::deque<double> rtt_;
    bool fitted_ = false;
    bool truncated_ = false;  // older transfers were dropped: the first one's level is unknown
    double rate_ = 0, peak_ = 0, burst_ = 0, level_end_ = 0;
};

// min(bytes, tokens)/peak + max(0, bytes - tokens)/rate (peak <= 0: no faster burst).
double bucket_transfer_ms(double bytes, double tokens, double peak, double rate);

}  // namespace nse
