#include "partition/link_model.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace nse {

namespace {

double ms_between(LinkModel::Clock::time_point a, LinkModel::Clock::time_point b) {
    return std::chrono::duration<double, std::milli>(b - a).count();
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

// Times under this are taken as this: a transfer that rode a burst takes a few microseconds,
// below what the cloud's clock and scheduling resolve.
constexpr double kResolutionMs = 0.05;

// How far a prediction is from a measurement, symmetric in ratio (0.1 ms keeps tiny times from
// dominating).
double miss(double predicted_ms, double measured_ms) {
    return std::log((predicted_ms + 0.1) / (std::max(measured_ms, kResolutionMs) + 0.1));
}

}  // namespace

double bucket_transfer_ms(double bytes, double tokens, double peak, double rate) {
    if (peak <= 0 || tokens <= 0) return bytes / rate;
    const double fast = std::min(bytes, tokens);
    return fast / peak + (bytes - fast) / rate;
}

// NSE_LINK_TRACE=1: each transfer and the fit after it on stderr (for studying a link).
static const bool kTrace = std::getenv("NSE_LINK_TRACE") != nullptr;

void LinkModel::add_upload(size_t bytes, double receive_ms, Clock::time_point start, bool fit) {
    // Every transfer of kMinBytes or more is fitted, the fast ones too: riding the burst is
    // what shows the burst and the peak.
    Sample s{start, double(bytes), std::max(0.0, receive_ms), fit && bytes >= kMinBytes};
    samples_.push_back(s);
    if (samples_.size() > kWindow) {
        samples_.pop_front();
        truncated_ = true;
    }
    if (!s.timed && fitted_) {
        // Too small to fit: it only drains the bucket; the parameters stand.
        level_end_ = simulate(rate_, peak_, burst_).level_end;
        return;
    }
    refit();
    if (kTrace)
        std::fprintf(stderr,
                     "link: %zu B in %.3f ms -> rate %.0f B/ms, burst %.0f B, peak %.0f B/ms\n",
                     bytes, receive_ms, rate_, burst_, peak_);
    // A real change: the two newest transfers that met the sustained rate (riding the burst
    // says nothing of it) both off by more than 1.5x the same way. Older ones are dropped.
    std::vector<double> misses;
    std::vector<bool> crossed;
    if (!fitted_) return;
    simulate(rate_, peak_, burst_, &misses, &crossed);
    std::vector<size_t> met;
    for (size_t i = 0; i < samples_.size(); ++i)
        if (crossed[i]) met.push_back(i);
    if (met.size() < 2) return;
    const double a = misses[met[met.size() - 2]], b = misses[met.back()];
    if (std::abs(a) > std::log(1.5) && std::abs(b) > std::log(1.5) && (a > 0) == (b > 0) &&
        met[met.size() - 2] > 0) {
        samples_.erase(samples_.begin(), samples_.begin() + long(met[met.size() - 2]));
        truncated_ = false;  // the newer link starts here
        refit();
        if (kTrace)
            std::fprintf(stderr, "link: changed -> rate %.0f B/ms, burst %.0f B\n", rate_, burst_);
    }
}

void LinkModel::add_rtt(double ms) {
    if (ms <= 0) return;
    rtt_.push_back(ms);
    if (rtt_.size() > 5) rtt_.pop_front();
}

double LinkModel::rtt_ms(double fallback) const {
    return rtt_.empty() ? fallback : median(std::vector<double>(rtt_.begin(), rtt_.end()));
}

size_t LinkModel::upload_samples() const {
    return size_t(
        std::count_if(samples_.begin(), samples_.end(), [](const Sample& s) { return s.timed; }));
}

double LinkModel::burst_available(Clock::time_point at) const {
    if (!fitted_ || samples_.empty()) return 0;
    const Sample& last = samples_.back();
    const double idle = std::max(0.0, ms_between(last.start, at) - last.ms);
    return std::min(burst_, level_end_ + rate_ * idle);
}

double LinkModel::transfer_ms(double bytes, Clock::time_point at) const {
    if (!fitted_) return bytes / upload_bytes_per_ms();
    return bucket_transfer_ms(bytes, burst_available(at), peak_, rate_);
}

LinkModel::Fit LinkModel::simulate(double rate, double peak, double burst,
                                   std::vector<double>* misses, std::vector<bool>* crossed) const {
    Fit f{rate, peak, burst, 0, 0};
    // Recent transfers weigh more: each older timed one 0.8x the next.
    std::vector<double> weight(samples_.size(), 0);
    double w = 1;
    for (size_t i = samples_.size(); i-- > 0;)
        if (samples_[i].timed) {
            weight[i] = w;
            w *= 0.8;
        }
    if (misses) misses->assign(samples_.size(), 0);
    if (crossed) crossed->assign(samples_.size(), false);
    double level = burst;  // the window starts after an idle link (the connect probe)
    for (size_t i = 0; i < samples_.size(); ++i) {
        const Sample& s = samples_[i];
        if (i > 0) {
            const Sample& p = samples_[i - 1];
            const double idle = std::max(0.0, ms_between(p.start, s.start) - p.ms);
            level = std::min(burst, level + rate * idle);
        }
        const double predicted = bucket_transfer_ms(s.bytes, level, peak, rate);
        const double m = miss(predicted, s.ms);
        if (misses) (*misses)[i] = m;
        // The first transfer of a window cut from a longer history met an unknown level.
        if (s.timed && !(i == 0 && truncated_)) f.cost += weight[i] * std::abs(m);
        // Evidence for the sustained rate: a transfer that spent most of its time past the bucket.
        if (s.timed && s.bytes > level &&
            (s.bytes - std::max(0.0, level)) / rate >= 0.5 * predicted)
            ++f.crossed;
        level = s.bytes <= level ? std::min(burst, level - s.bytes + rate * s.ms) : 0;
    }
    f.level_end = level;
    return f;
}

void LinkModel::refit() {
    std::vector<double> rates;
    for (const Sample& s : samples_)
        if (s.timed) rates.push_back(s.bytes / std::max(s.ms, kResolutionMs));
    fitted_ = !rates.empty();
    if (!fitted_) return;
    const double peak = *std::max_element(rates.begin(), rates.end());
    const double lowest = *std::min_element(rates.begin(), rates.end());
    // A burst larger than twice the largest transfer seen is unobservable (and, fitted, would
    // price medium transfers as free behind a crawl): the search stops there.
    double largest = 0;
    for (const Sample& s : samples_)
        if (s.timed) largest = std::max(largest, s.bytes);
    Fit best;
    best.cost = INFINITY;
    if (rates.size() == 1) {
        best = simulate(peak, peak, 0);
    } else {
        // Rates from a 32nd of the slowest transfer's average (a transfer that rode part of a
        // burst averages far above the sustained rate) to the fastest's, 4% apart; bursts from
        // none to 4 MiB, doubling. Where transfers cannot tell fits apart (a probe that rode the
        // burst and one that crossed it fit a small burst with a fast rate as well as a large
        // burst with a slow one), the slower rate wins: it never sends a tensor the link cannot
        // carry in time.
        const double lo = lowest / 32, steps = std::ceil(std::log(peak / lo) / std::log(1.04));
        for (int b = -1; b <= 12; ++b) {
            const double burst = b < 0 ? 0 : 1024.0 * double(1 << b);
            if (burst > 2 * largest) break;
            Fit best_here;
            best_here.cost = INFINITY;
            auto consider = [&](double rate) {
                Fit f = simulate(std::min(peak, rate), peak, burst);
                // A sustained rate needs a transfer that spent most of its time at it: without
                // one, a large enough burst explains anything at any rate.
                if (burst > 0 && f.crossed == 0) return;
                f.cost += 0.01 * std::log(f.rate);
                if (f.cost < best_here.cost) best_here = f;
            };
            for (int i = 0; i <= int(steps); ++i) consider(lo * std::pow(1.04, i));
            if (!std::isfinite(best_here.cost)) continue;
            const double around = best_here.rate;  // refine to 0.25 %
            for (int i = -16; i <= 16; ++i) consider(around * std::pow(1.0025, i));
            if (best_here.cost < best.cost) best = best_here;
        }
    }
    rate_ = best.rate;
    peak_ = best.peak;
    burst_ = best.burst;
    level_end_ = best.level_end;
}

}  // namespace nse
