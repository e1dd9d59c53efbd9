// The edge's view of the link, from its own transfers: upload throughput from INFER and PROBE
// messages (bytes over the cloud's first-to-last-byte receive time), round-trip time from small
// exchanges. Each estimate is the median of the last few samples: robust to one odd transfer,
// yet a step change in the link is followed after two samples.
#pragma once

#include <cstddef>
#include <deque>

namespace nse {

class BandwidthEstimator {
  public:
    // A transfer of `bytes` whose body took `receive_ms` at the cloud. Transfers too small to
    // time (under kMinBytes, or under 0.05 ms) are ignored.
    void add_upload(size_t bytes, double receive_ms);
    // A round trip with negligible payload and cloud time.
    void add_rtt(double ms);

    bool has_bandwidth() const { return !up_.empty(); }
    // Bytes per millisecond; `fallback` before any sample.
    double upload_bytes_per_ms(double fallback = 1e3) const;
    // Download is not measured separately (replies are a few KB); links are taken as symmetric.
    double download_bytes_per_ms(double fallback = 1e3) const {
        return upload_bytes_per_ms(fallback);
    }
    double rtt_ms(double fallback = 1.0) const;
    size_t upload_samples() const { return up_.size(); }

    static constexpr size_t kMinBytes = 8 * 1024;
    static constexpr size_t kWindow = 3;

  private:
    std::deque<double> up_;   // bytes per ms
    std::deque<double> rtt_;  // ms
};

}  // namespace nse
