#include "partition/planner.h"

#include <algorithm>

#include "base/error.h"
#include "partition/link_model.h"

namespace nse {

Objective parse_objective(const std::string& s) {
    if (s == "latency") return Objective::Latency;
    if (s == "energy") return Objective::Energy;
    throw Error(ErrorCode::InvalidArgument,
                "--objective must be latency or energy, got '" + s + "'");
}

Planner::Planner(const Model& model, const DeviceProfile& edge, const DeviceProfile& cloud)
    : power_(edge.power),
      edge_ms_(edge.predict_model(model)),
      cloud_ms_(cloud.predict_model(model)) {
    const int n = model.size();
    prefix_.assign(n + 1, 0);
    suffix_.assign(n + 1, 0);
    for (int k = 1; k <= n; ++k) prefix_[k] = prefix_[k - 1] + edge_ms_[k - 1];
    for (int k = n - 1; k >= 0; --k) suffix_[k] = suffix_[k + 1] + cloud_ms_[k];
    for (int k = 0; k <= n; ++k) live_bytes_.push_back(model.live_bytes(k));
    output_bytes_ = live_bytes_[n];
}

std::vector<CutEstimate> Planner::estimate(const LinkState& link) const {
    const int n = int(prefix_.size()) - 1;
    std::vector<CutEstimate> out(n + 1);
    for (int k = 0; k <= n; ++k) {
        CutEstimate& e = out[k];
        e.cut = k;
        e.live_bytes = live_bytes_[k];
        e.edge_ms = prefix_[k] * link.edge_scale;
        if (k < n) {
            const double tokens =
                std::min(link.burst_bytes,
                         link.burst_available_bytes + link.upload_bytes_per_ms * e.edge_ms);
            e.upload_ms = bucket_transfer_ms(double(live_bytes_[k]), tokens, link.peak_bytes_per_ms,
                                             link.upload_bytes_per_ms);
            e.rtt_ms = link.rtt_ms;
            e.cloud_wait_ms = link.cloud_backlog_ms * link.cloud_scale;
            e.cloud_ms = suffix_[k] * link.cloud_scale;
            // The reply comes back through a bucket like the upload's (links are taken as
            // symmetric), refilled since the last small reply.
            e.download_ms = bucket_transfer_ms(double(output_bytes_), link.burst_bytes,
                                               link.peak_bytes_per_ms, link.download_bytes_per_ms);
        }
        e.total_ms =
            e.edge_ms + e.upload_ms + e.rtt_ms + e.cloud_wait_ms + e.cloud_ms + e.download_ms;
        // W x ms = mJ.
        e.energy_mj = power_.compute_w * e.edge_ms + power_.transmit_w * e.upload_ms +
                      power_.idle_w * (e.rtt_ms + e.cloud_wait_ms + e.cloud_ms + e.download_ms);
    }
    return out;
}

int Planner::choose(const LinkState& link, Objective objective) const {
    const std::vector<CutEstimate> est = estimate(link);
    int best = int(est.size()) - 1;
    for (const auto& e : est) {
        const double v = objective == Objective::Latency ? e.total_ms : e.energy_mj;
        const double b = objective == Objective::Latency ? est[best].total_ms : est[best].energy_mj;
        if (v < b) best = e.cut;
    }
    return best;
}

}  // namespace nse
