#include "partition/planner.h"

#include <algorithm>
#include <cmath>
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

Planner::Planner(const Model& model, const DeviceProfile& edge, const DeviceProfile& cloud,
                 bool dag_cuts)
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
    if (!dag_cuts) return;
    partitions_ = min_cut_partitions(model, edge_ms_, cloud_ms_);
    for (const NodeSet& p : partitions_) {
        double e = 0, c = 0;
        for (int i = 0; i < n; ++i) {
            if (p[size_t(i)])
                e += edge_ms_[size_t(i)];
            else
                c += cloud_ms_[size_t(i)];
        }
        part_edge_ms_.push_back(e);
        part_cloud_ms_.push_back(c);
        part_bytes_.push_back(crossing_bytes(model, p));
    }
}

double queue_toll(double wait_ms, double service_ms, double unit_ms, double weight) {
    if (weight <= 0 || unit_ms <= 0 || wait_ms <= unit_ms) return 0;
    const double n = wait_ms / unit_ms;
    return weight * service_ms * n * (n - 1) / 2;
}

CutEstimate Planner::price(int cut, bool all_edge, double prefix, double suffix, size_t live,
                           const WireOption& w, double ratio, const LinkState& link) const {
    CutEstimate e;
    e.cut = cut;
    e.live_bytes = live;
    e.edge_ms = prefix * link.edge_scale;
    if (!all_edge) {
        const double values = double(live) / 4;
        e.wire = w.name;
        e.wire_bytes = double(live) * ratio;
        e.encode_ms = w.encode_ns * values * 1e-6 * link.edge_scale;
        e.decode_ms = w.decode_ns * values * 1e-6 * link.cloud_scale;
        const double tokens =
            std::min(link.burst_bytes, link.burst_available_bytes +
                                           link.upload_bytes_per_ms * (e.edge_ms + e.encode_ms));
        e.upload_ms = bucket_transfer_ms(e.wire_bytes, tokens, link.peak_bytes_per_ms,
                                         link.upload_bytes_per_ms);
        e.rtt_ms = link.rtt_ms;
        e.cloud_wait_ms = link.cloud_backlog_ms * link.cloud_scale;
        e.cloud_ms = suffix * link.cloud_scale;
        // The reply comes back through a bucket like the upload's (links are taken as
        // symmetric), refilled since the last small reply.
        e.download_ms = bucket_transfer_ms(double(output_bytes_), link.burst_bytes,
                                           link.peak_bytes_per_ms, link.download_bytes_per_ms);
        // (The unit: the whole model on the cloud, most requests' service when it is loaded.)
        e.toll_ms = queue_toll(e.cloud_wait_ms, e.decode_ms + e.cloud_ms,
                               suffix_[0] * link.cloud_scale, link.queue_toll);
    }
    e.total_ms = e.edge_ms + e.encode_ms + e.upload_ms + e.rtt_ms + e.cloud_wait_ms + e.decode_ms +
                 e.cloud_ms + e.download_ms;
    // W x ms = mJ.
    e.energy_mj =
        power_.compute_w * (e.edge_ms + e.encode_ms) + power_.transmit_w * e.upload_ms +
        power_.idle_w * (e.rtt_ms + e.cloud_wait_ms + e.decode_ms + e.cloud_ms + e.download_ms);
    return e;
}

namespace {
double cost_of(const CutEstimate& c, Objective objective) { return Planner::cost(c, objective); }
CutEstimate never(int cut, size_t live) {  // no option may carry this cut: never chosen
    CutEstimate e;
    e.cut = cut;
    e.live_bytes = live;
    e.total_ms = e.energy_mj = std::numeric_limits<double>::infinity();
    return e;
}
}  // namespace

std::vector<CutEstimate> Planner::estimate(const LinkState& link,
                                           const std::vector<WireOption>& wires,
                                           Objective objective,
                                           const std::vector<double>& first_run_ms) const {
    static const std::vector<WireOption> kFp32Only = {WireOption{}};
    const std::vector<WireOption>& options = wires.empty() ? kFp32Only : wires;
    const int n = int(prefix_.size()) - 1;
    std::vector<CutEstimate> out(n + 1);
    for (int k = 0; k <= n; ++k) {
        out[k] = never(k, live_bytes_[k]);
        for (const WireOption& w : options) {
            const double ratio = w.ratio.empty() ? 1.0 : w.ratio[size_t(std::min(k, n - 1))];
            if (k < n && ratio <= 0) continue;
            const CutEstimate e =
                price(k, k == n, prefix_[k], suffix_[k], live_bytes_[k], w, ratio, link);
            if (cost_of(e, objective) < cost_of(out[k], objective) || std::isinf(out[k].total_ms))
                out[k] = e;
            if (k == n) break;  // no transfer: one estimate
        }
        // (The same for every encoding: added to the best.)
        if (size_t(k) < first_run_ms.size() && first_run_ms[size_t(k)] > 0) {
            out[k].prepare_ms = first_run_ms[size_t(k)];
            out[k].total_ms += out[k].prepare_ms;
            out[k].energy_mj += power_.compute_w * out[k].prepare_ms;
        }
    }
    return out;
}

std::vector<CutEstimate> Planner::estimate_partitions(const LinkState& link,
                                                      const std::vector<WireOption>& wires) const {
    const WireOption* fp32 = nullptr;
    static const WireOption kFp32;
    if (wires.empty()) fp32 = &kFp32;
    for (const WireOption& w : wires)
        if (w.name == "fp32") fp32 = &w;
    std::vector<CutEstimate> out;
    for (size_t p = 0; p < partitions_.size(); ++p) {
        const int count = edge_count(partitions_[p]);
        CutEstimate e = fp32 ? price(count, false, part_edge_ms_[p], part_cloud_ms_[p],
                                     part_bytes_[p], *fp32, 1.0, link)
                             : never(count, part_bytes_[p]);
        e.partition = int(p);
        out.push_back(e);
    }
    return out;
}

CutEstimate Planner::best(const LinkState& link, const std::vector<WireOption>& wires,
                          Objective objective, const std::vector<double>& first_run_ms) const {
    const std::vector<CutEstimate> positions = estimate(link, wires, objective, first_run_ms);
    CutEstimate b = positions[size_t(best_cut(positions, objective))];
    for (const CutEstimate& e : estimate_partitions(link, wires))
        if (cost_of(e, objective) < cost_of(b, objective)) b = e;
    return b;
}

double Planner::edge_part_ms(const CutEstimate& e) const {
    return e.partition >= 0 ? part_edge_ms_[size_t(e.partition)] : prefix_[size_t(e.cut)];
}

double Planner::cloud_part_ms(const CutEstimate& e) const {
    return e.partition >= 0 ? part_cloud_ms_[size_t(e.partition)] : suffix_[size_t(e.cut)];
}

int Planner::choose(const LinkState& link, Objective objective,
                    const std::vector<WireOption>& wires) const {
    return best_cut(estimate(link, wires, objective), objective);
}

int Planner::best_cut(const std::vector<CutEstimate>& est, Objective objective) {
    int best = int(est.size()) - 1;
    for (const auto& e : est) {
        if (cost(e, objective) < cost(est[size_t(best)], objective)) best = e.cut;
    }
    return best;
}

}  // namespace nse
