#include "partition/split_controller.h"

#include <algorithm>

namespace nse {

namespace {
// How long an offloaded request waits for its reply once its tensors are sent (the edge's CPU is
// idle meanwhile).
double wait_ms(const CutEstimate& e) {
    return e.upload_ms + e.rtt_ms + e.cloud_wait_ms + e.decode_ms + e.cloud_ms + e.download_ms;
}
}  // namespace

SplitController::SplitController(const Model& model, std::shared_ptr<const DeviceProfile> edge,
                                 Objective objective, LinkModel& link, bool dag_cuts)
    : model_(model),
      edge_profile_(std::move(edge)),
      objective_(objective),
      dag_cuts_(dag_cuts),
      link_(link) {
    NSE_CHECK(edge_profile_, ErrorCode::InvalidArgument, "automatic splitting needs a profile");
}

void SplitController::set_cloud(std::unique_ptr<DeviceProfile> cloud, double backlog_ms) {
    learn_backlog(backlog_ms);
    if (cloud && cloud_profile_ && planner_ && cloud->to_json() == cloud_profile_->to_json())
        return;
    planner_.reset();
    cloud_profile_ = std::move(cloud);
    if (cloud_profile_)
        planner_ = std::make_unique<Planner>(model_, *edge_profile_, *cloud_profile_, dag_cuts_);
}

void SplitController::set_wires(std::vector<WireOption> wires) { wires_ = std::move(wires); }

SplitController::Decision SplitController::decide(std::chrono::steady_clock::time_point now) const {
    NSE_ASSERT(planner_);
    Decision d;
    d.link.upload_bytes_per_ms = link_.upload_bytes_per_ms();
    d.link.download_bytes_per_ms = link_.download_bytes_per_ms();
    d.link.rtt_ms = link_.rtt_ms();
    d.link.burst_bytes = link_.burst_bytes();
    d.link.burst_available_bytes = link_.burst_available();
    d.link.peak_bytes_per_ms = link_.peak_bytes_per_ms();
    d.link.edge_scale = edge_speed_.factor();
    d.link.cloud_scale = cloud_speed_.factor();
    // (The backlog is in the cloud profile's milliseconds: worked off at 1 / cloud_scale of them
    // per millisecond.)
    const double since_ms = std::chrono::duration<double, std::milli>(now - backlog_at_).count();
    d.link.cloud_backlog_ms =
        std::max(0.0, cloud_backlog_ms_ - std::max(0.0, since_ms) / d.link.cloud_scale);
    d.link.queue_toll = queue_toll_;
    std::vector<double> first_run;  // (none before a preparation was timed: all would be 0)
    if (prepare_ms_per_byte() > 0)
        for (size_t k = 0; k < first_run_bytes_.size(); ++k)
            first_run.push_back(first_run_ms(int(k)));
    d.estimate = planner_->best(d.link, wires_, objective_, first_run);
    d.cut = d.estimate.cut;
    if (d.estimate.partition >= 0) d.nodes = planner_->partitions()[size_t(d.estimate.partition)];
    if (prepare_ms_per_byte() > 0 && d.cut < model_.size()) {
        const CutEstimate ideal = planner_->best(d.link, wires_, objective_);
        if (ideal.partition < 0 && ideal.cut != d.cut && !is_prepared(ideal.cut) &&
            first_run_ms(ideal.cut) <= 0.5 * wait_ms(d.estimate))
            d.prepare_next = ideal.cut;
    }
    return d;
}

void SplitController::set_first_run_bytes(std::vector<size_t> bytes) {
    first_run_bytes_ = std::move(bytes);
}

void SplitController::prepared(int k, double ms) {
    if (size_t(k) >= first_run_bytes_.size()) return;
    if (ms > 0 && first_run_bytes_[size_t(k)] > 0) {
        prepared_ms_ += ms;
        prepared_bytes_ += double(first_run_bytes_[size_t(k)]);
    }
    first_run_bytes_[size_t(k)] = 0;
}

std::vector<int> SplitController::likely_cuts(int count) const {
    NSE_ASSERT(planner_);
    const Decision d = decide();
    std::vector<CutEstimate> est = planner_->estimate(d.link, wires_, objective_);
    std::sort(est.begin(), est.end(), [&](const CutEstimate& a, const CutEstimate& b) {
        return Planner::cost(a, objective_) < Planner::cost(b, objective_);
    });
    std::vector<int> cuts;
    for (const CutEstimate& e : est)
        if (int(cuts.size()) < count) cuts.push_back(e.cut);
    return cuts;
}

int SplitController::edge_probe_cut(const Decision& d,
                                    std::chrono::steady_clock::time_point now) const {
    const int n = model_.size();
    if (!planner_ || !d.nodes.empty() || d.cut >= n ||
        edge_speed_.sampled_since(now - kEdgeProbeEvery))
        return 0;
    const double budget_ms =  // in the profile's ms
        std::min(0.5 * wait_ms(d.estimate), kEdgeProbeMaxMs) / d.link.edge_scale;
    int chosen = 0;
    for (int k = 1; k < n; ++k) {
        const double p = planner_->prefix_ms(k);
        if (k == d.cut || p < SpeedTracker::kMinPredictedMs) continue;
        if (p > budget_ms) return chosen ? chosen : k;
        chosen = k;
    }
    return chosen;
}

void SplitController::record(const Decision& d, const SplitOutcome& o) {
    edge_speed_.add(o.edge_ms, planner_->edge_part_ms(d.estimate));
    if (o.offloaded) {
        // A batch's compute tells how fast the cloud is per image only alone. What sharing
        // batches costs the next request is in the backlog the cloud published with the reply:
        // its queue counted as the batches it will run in.
        if (o.cloud_batch <= 1)
            cloud_speed_.add(o.cloud_compute_ms, planner_->cloud_part_ms(d.estimate));
        // What this encoding made of this cut's tensors (a coded one's gain depends on the
        // data): half-way from the prediction to what was seen.
        if (o.raw_bytes > 0)
            for (WireOption& w : wires_)
                if (d.nodes.empty() && w.name == o.wire && size_t(d.cut) < w.ratio.size() &&
                    w.ratio[d.cut] > 0)
                    w.ratio[d.cut] =
                        0.5 * w.ratio[d.cut] + 0.5 * double(o.sent_bytes) / double(o.raw_bytes);
        const double download_ms =
            bucket_transfer_ms(double(model_.live_bytes(model_.size())), d.link.burst_bytes,
                               d.link.peak_bytes_per_ms, d.link.download_bytes_per_ms);
        // What the round trip does not explain is the latency, unless it is clearly more: then
        // the request waited before its first byte reached the cloud (a shaper that holds a
        // whole segment-offloaded burst until it has the tokens, then lets it through at once,
        // so the cloud sees it arrive in no time), and that wait is upload time.
        // Where the edge worked meanwhile, its round trip is its CPU's as much as the link's:
        // the transfer only drains the bucket.
        if (o.edge_busy) {
            link_.add_upload(o.sent_bytes, o.upload_ms, o.upload_start, false);
        } else {
            const double unexplained = std::max(0.01, o.network_ms - download_ms);
            double upload_ms = o.upload_ms;
            if (unexplained > 2 * link_.rtt_ms() + 1)
                upload_ms += unexplained - link_.rtt_ms();
            else
                link_.add_rtt(unexplained);
            link_.add_upload(o.sent_bytes, upload_ms, o.upload_start);
            last_link_sample_ = std::chrono::steady_clock::now();
        }
        learn_backlog(o.cloud_backlog_ms);
        local_streak_ = 0;
    } else if (d.cut == model_.size() && d.nodes.empty()) {
        ++local_streak_;
    }
}

bool SplitController::wants_probe() {
    if (local_streak_ < 2 || std::chrono::steady_clock::now() - last_link_sample_ < kProbeInterval)
        return false;
    local_streak_ = 0;
    return true;
}

}  // namespace nse
