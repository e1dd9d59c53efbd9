#include "partition/planner.h"

#include <algorithm>
#include <limits>

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

std::vector<CutEstimate> Planner::estimate(const LinkState& link,
                                           const std::vector<WireOption>& wires,
                                           Objective objective) const {
    static const std::vector<WireOption> kFp32Only = {WireOption{}};
    const std::vector<WireOption>& options = wires.empty() ? kFp32Only : wires;
    const int n = int(prefix_.size()) - 1;
    std::vector<CutEstimate> out(n + 1);
    for (int k = 0; k <= n; ++k) {
        CutEstimate best;
        bool have = false;
        for (const WireOption& w : options) {
            const double ratio = w.ratio.empty() ? 1.0 : w.ratio[size_t(std::min(k, n - 1))];
            if (k < n && ratio <= 0) continue;
            CutEstimate e;
            e.cut = k;
            e.live_bytes = live_bytes_[k];
            e.edge_ms = prefix_[k] * link.edge_scale;
            if (k < n) {
                const double values = double(live_bytes_[k]) / 4;
                e.wire = w.name;
                e.wire_bytes = double(live_bytes_[k]) * ratio;
                e.encode_ms = w.encode_ns * values * 1e-6 * link.edge_scale;
                e.decode_ms = w.decode_ns * values * 1e-6 * link.cloud_scale;
                const double tokens = std::min(
                    link.burst_bytes, link.burst_available_bytes +
                                          link.upload_bytes_per_ms * (e.edge_ms + e.encode_ms));
                e.upload_ms = bucket_transfer_ms(e.wire_bytes, tokens, link.peak_bytes_per_ms,
                                                 link.upload_bytes_per_ms);
                e.rtt_ms = link.rtt_ms;
                e.cloud_wait_ms = link.cloud_backlog_ms * link.cloud_scale;
                e.cloud_ms = suffix_[k] * link.cloud_scale;
                // The reply comes back through a bucket like the upload's (links are taken as
                // symmetric), refilled since the last small reply.
                e.download_ms =
                    bucket_transfer_ms(double(output_bytes_), link.burst_bytes,
                                       link.peak_bytes_per_ms, link.download_bytes_per_ms);
            }
            e.total_ms = e.edge_ms + e.encode_ms + e.upload_ms + e.rtt_ms + e.cloud_wait_ms +
                         e.decode_ms + e.cloud_ms + e.download_ms;
            // W x ms = mJ.
            e.energy_mj =
                power_.compute_w * (e.edge_ms + e.encode_ms) + power_.transmit_w * e.upload_ms +
                power_.idle_w *
                    (e.rtt_ms + e.cloud_wait_ms + e.decode_ms + e.cloud_ms + e.download_ms);
            const auto cost = [&](const CutEstimate& c) {
                return objective == Objective::Latency ? c.total_ms : c.energy_mj;
            };
            if (!have || cost(e) < cost(best)) best = e;
            have = true;
            if (k == n) break;  // no transfer: one estimate
        }
        if (!have) {  // no option may carry this cut: never chosen
            best.cut = k;
            best.live_bytes = live_bytes_[k];
            best.total_ms = best.energy_mj = std::numeric_limits<double>::infinity();
        }
        out[k] = best;
    }
    return out;
}

int Planner::choose(const LinkState& link, Objective objective,
                    const std::vector<WireOption>& wires) const {
    return best_cut(estimate(link, wires, objective), objective);
}

int Planner::best_cut(const std::vector<CutEstimate>& est, Objective objective) {
    int best = int(est.size()) - 1;
    for (const auto& e : est) {
        const double v = objective == Objective::Latency ? e.total_ms : e.energy_mj;
        const double b = objective == Objective::Latency ? est[best].total_ms : est[best].energy_mj;
        if (v < b) best = e.cut;
    }
    return best;
}

}  // namespace nse
