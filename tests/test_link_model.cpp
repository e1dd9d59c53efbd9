// The edge's link model (partition/link_model.h) against a simulated token bucket, the way
// `tc tbf` shapes a link: a plain rate, a burst that would fool a single-rate estimate, a stall,
// and a real change followed.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>

#include "partition/link_model.h"

namespace nse::test {

// A token-bucket link (what `tc tbf` does): `peak` bytes/ms while tokens last, then `rate`;
// tokens refill at `rate` up to `burst` while the link is idle.
class BucketLink {
  public:
    BucketLink(double rate, double burst, double peak)
        : rate_(rate), burst_(burst), peak_(peak), level_(burst) {}
    // Sends `bytes` after `idle_ms` of silence: returns the transfer's time and its start.
    double send(double bytes, double idle_ms, LinkModel::Clock::time_point& start) {
        now_ms_ += idle_ms;
        level_ = std::min(burst_, level_ + rate_ * idle_ms);
        start = t0_ + std::chrono::microseconds(int64_t(now_ms_ * 1e3));
        const double ms = bucket_transfer_ms(bytes, level_, peak_, rate_);
        level_ = bytes <= level_ ? std::min(burst_, level_ - bytes + rate_ * ms) : 0;
        now_ms_ += ms;
        return ms;
    }
    void feed(LinkModel& m, double bytes, double idle_ms) {
        LinkModel::Clock::time_point start;
        const double ms = send(bytes, idle_ms, start);
        m.add_upload(size_t(bytes), ms, start);
    }
    LinkModel::Clock::time_point now() const {
        return t0_ + std::chrono::microseconds(int64_t(now_ms_ * 1e3));
    }
    void set_rate(double r) { rate_ = r; }
    // What sending `bytes` after `idle_ms` would take, without sending it.
    double would_take(double bytes, double idle_ms) const {
        return bucket_transfer_ms(bytes, std::min(burst_, level_ + rate_ * idle_ms), peak_, rate_);
    }

  private:
    double rate_, burst_, peak_, level_, now_ms_ = 0;
    LinkModel::Clock::time_point t0_ = LinkModel::Clock::now();
};

TEST(LinkModel, APlainRateAndItsLatency) {
    LinkModel m;
    EXPECT_FALSE(m.has_bandwidth());
    EXPECT_EQ(m.upload_bytes_per_ms(42), 42);
    BucketLink link(1000, 0, 0);  // 1000 bytes/ms, no burst
    for (double kb : {16, 64, 256, 40, 100, 300}) link.feed(m, kb * 1024, 5);
    EXPECT_NEAR(m.upload_bytes_per_ms(), 1000, 50);
    EXPECT_NEAR(m.transfer_ms(1e6, link.now()), 1000, 60);
    link.feed(m, 100, 1);  // too small to time: drains, is not fitted
    EXPECT_EQ(m.upload_samples(), 6u);
    m.add_rtt(2);
    m.add_rtt(4);
    m.add_rtt(3);
    EXPECT_DOUBLE_EQ(m.rtt_ms(), 3);
}

// The case a one-number estimate gets wrong (5 Mbit/s behind a 64 KB burst): transfers that
// ride the burst look fast, yet a large one takes the sustained rate. The connect probe (16 KB,
// then 64 KB, which crosses the burst) and 36 KB requests every 30 ms teach the model both.
TEST(LinkModel, ABurstDoesNotFoolIt) {
    const double rate = 625, burst = 64 * 1024, peak = 1e6;  // bytes per ms (veth: ~1 GB/s)
    LinkModel m;
    BucketLink link(rate, burst, peak);
    link.feed(m, 16 * 1024, 0);
    link.feed(m, 64 * 1024, 1);
    for (int i = 0; i < 6; ++i) link.feed(m, 36 * 1024, 30);
    EXPECT_NEAR(m.upload_bytes_per_ms(), rate, 0.1 * rate);
    EXPECT_GT(m.burst_bytes(), 0.4 * burst);
    EXPECT_LT(m.burst_bytes(), 2.5 * burst);
    for (double kb : {36, 100, 300, 1000}) {
        const double want = link.would_take(kb * 1024, 30);
        const double got = m.transfer_ms(kb * 1024, link.now() + std::chrono::milliseconds(30));
        EXPECT_NEAR(got, want, 0.15 * want + 1) << kb << " KB";
    }
}

TEST(LinkModel, OneStallIsNotAChangeAndARealChangeIsFollowedWithinThree) {
    LinkModel m;
    BucketLink link(2000, 4096, 100000);
    for (int i = 0; i < 8; ++i) link.feed(m, 200 * 1024, 10);
    EXPECT_NEAR(m.upload_bytes_per_ms(), 2000, 150);
    m.add_upload(200 * 1024, 500, link.now() + std::chrono::milliseconds(10));  // a 5x stall
    link.feed(m, 200 * 1024, 20);
    EXPECT_NEAR(m.upload_bytes_per_ms(), 2000, 200);
    link.set_rate(500);  // the link really slows down 4x
    for (int i = 0; i < 3; ++i) link.feed(m, 200 * 1024, 10);
    EXPECT_NEAR(m.upload_bytes_per_ms(), 500, 75);
    link.set_rate(2000);  // and recovers
    for (int i = 0; i < 3; ++i) link.feed(m, 200 * 1024, 10);
    EXPECT_NEAR(m.upload_bytes_per_ms(), 2000, 300);
}

}  // namespace nse::test
