#include "partition/bandwidth.h"

#include <algorithm>
#include <vector>

namespace nse {

namespace {
double median_of(const std::deque<double>& d) {
    std::vector<double> v(d.begin(), d.end());
    std::sort(v.begin(), v.end());
    return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}
}  // namespace

void BandwidthEstimator::add_upload(size_t bytes, double receive_ms) {
    if (bytes < kMinBytes || receive_ms < 0.05) return;
    up_.push_back(double(bytes) / receive_ms);
    if (up_.size() > kWindow) up_.pop_front();
}

void BandwidthEstimator::add_rtt(double ms) {
    if (ms <= 0) return;
    rtt_.push_back(ms);
    if (rtt_.size() > 5) rtt_.pop_front();
}

double BandwidthEstimator::upload_bytes_per_ms(double fallback) const {
    return up_.empty() ? fallback : median_of(up_);
}

double BandwidthEstimator::rtt_ms(double fallback) const {
    return rtt_.empty() ? fallback : median_of(rtt_);
}

}  // namespace nse
