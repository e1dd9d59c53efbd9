// The runtime decision: for every cut k of a model and every encoding e its tensors may travel in,
// predicted
//   edge prefix [0, k) + encode + upload of the bytes e makes of the live tensors + RTT + cloud
//   backlog + decode + cloud suffix [k, n) + download of the output
// where the upload (and the download, through a bucket of the same size) rides what is left of the
// link's burst (a token bucket, LinkModel) at the peak rate and the rest goes at the sustained rate
// (each side's times scaled by how fast it runs now against its profile)
// (or the edge's energy for it), and the best cut. Per-node predictions are summed once per
// (model, profiles); a decision is then one pass over the cuts and runs no layer.
#pragma once

#include <string>
#include <vector>

#include "partition/dag_cut.h"
#include "partition/profile.h"

namespace nse {

enum class Objective { Latency, Energy };
Objective parse_objective(const std::string& s);  // throws Error(InvalidArgument)

// The link, and how fast each side runs now.
struct LinkState {
    double upload_bytes_per_ms = 1e3;  // sustained
    double download_bytes_per_ms = 1e3;
    double rtt_ms = 1;
    // The link's token bucket (partition/link_model.h): this many bytes may leave at
    // peak_bytes_per_ms now; it refills at upload_bytes_per_ms up to burst_bytes while the edge
    // computes the prefix. Zero: a plain rate.
    double burst_bytes = 0, burst_available_bytes = 0, peak_bytes_per_ms = 0;
    double cloud_backlog_ms = 0;  // predicted wait before the cloud starts our request
    // The weight of the queue's toll in the latency objective (CutEstimate::toll_ms): 0, each
    // edge minimises its own latency alone; 1, Naor's socially optimal toll.
    double queue_toll = 0;
    // Measured over predicted time of recent requests (SpeedTracker): multiply the edge's
    // prefix, and the cloud's suffix and backlog.
    double edge_scale = 1;
    double cloud_scale = 1;
};

// One encoding a cut's tensors may cross the link in (net/wire_codec.h; net/wire_choice.h builds
// these): what it costs each side per fp32 value, and per cut the bytes it sends over fp32's.
struct WireOption {
    std::string name = "fp32";
    double encode_ns = 0;  // on the edge, per fp32 value
    double decode_ns = 0;  // on the cloud, per fp32 value
    // Per cut 0..n-1; 0 where the option may not be used (a lossy format whose measured top-1
    // agreement is too low there, a coded one never measured).
    std::vector<double> ratio;
};

struct CutEstimate {
    // A position of the file's order, or (partition >= 0) Planner::partitions()[partition],
    // whose edge nodes are then `cut` in number (the cut of the reordered model).
    int cut = 0;
    int partition = -1;
    size_t live_bytes = 0;  // the cut's tensors as fp32
    std::string wire = "fp32";
    double wire_bytes = 0;  // as sent
    double edge_ms = 0, encode_ms = 0, upload_ms = 0, rtt_ms = 0, cloud_wait_ms = 0, decode_ms = 0,
           cloud_ms = 0, download_ms = 0;
    // The cut's first run in this process: the edge maps its plan's memory first (page faults;
    // SplitController). Part of total_ms, paid once.
    double prepare_ms = 0;
    double total_ms = 0;
    double energy_mj = 0;  // edge energy, millijoules
    // What joining the cloud's queue costs the requests that will queue behind it
    // (queue_toll()): the latency objective chooses by total_ms + toll_ms, and total_ms stays
    // the prediction.
    double toll_ms = 0;
};

// The toll of joining a queue whose wait is `wait_ms` for a request the server takes
// `service_ms` to serve, when a typical request takes it `unit_ms` (LinkState::queue_toll is
// `weight`). Edges that each minimise their own latency join while the wait is below what they
// gain by the cloud, so the queue grows until its wait eats the whole gain: every device idle,
// the cloud saturated, every request as slow as if it had run at home. Naor (1969): requests
// that maximise the welfare of all join a queue at full load (rho = 1) holding n others only
// while n(n + 1) / 2 is below the gain in service times, where each would join while n + 1 is;
// the difference, n(n - 1) / 2 service times, is the toll: the delay of those that will queue
// behind it. Here n = wait / unit, each delayed by this request's own service (a cut that
// leaves the cloud less work pays less). None below one request ahead.
double queue_toll(double wait_ms, double service_ms, double unit_ms, double weight);

class Planner {
  public:
    // `dag_cuts`: also consider partitions of a branching network that are not positions
    // (partition/dag_cut.h), found once here.
    Planner(const Model& model, const DeviceProfile& edge, const DeviceProfile& cloud,
            bool dag_cuts = true);

    // Estimates for every cut 0..n (n = all on the edge: no network terms), each with the best
    // of `wires` there for the objective (no options: fp32 at no cost). `first_run_ms`: per cut
    // 0..n, what preparing it costs the edge before its prefix runs (empty: nothing; the edge's
    // compute power meanwhile in the energy).
    std::vector<CutEstimate> estimate(const LinkState& link, const std::vector<WireOption>& wires,
                                      Objective objective = Objective::Latency,
                                      const std::vector<double>& first_run_ms = {}) const;
    std::vector<CutEstimate> estimate(const LinkState& link) const { return estimate(link, {}); }
    // The best cut (and its encoding, in estimate()[cut]) for the objective.
    int choose(const LinkState& link, Objective objective,
               const std::vector<WireOption>& wires = {}) const;
    // What `objective` minimises of an estimate: total_ms + toll_ms, or energy_mj.
    static double cost(const CutEstimate& e, Objective objective) {
        return objective == Objective::Latency ? e.total_ms + e.toll_ms : e.energy_mj;
    }
    // The best cut among estimates made for `objective` (ties: all on the edge, else the
    // smaller cut).
    static int best_cut(const std::vector<CutEstimate>& estimates, Objective objective);

    // Estimates for every partition(), in that order. Their tensors travel as fp32 (what the
    // other encodings make of them is measured per position only), so without an fp32 option
    // in `wires` each is priced infinite.
    std::vector<CutEstimate> estimate_partitions(const LinkState& link,
                                                 const std::vector<WireOption>& wires) const;
    // The best of every position (with `first_run_ms` as in estimate()) and every partition.
    CutEstimate best(const LinkState& link, const std::vector<WireOption>& wires,
                     Objective objective, const std::vector<double>& first_run_ms = {}) const;
    // Node sets closed under predecessors that are not positions, found by minimum cuts.
    const std::vector<NodeSet>& partitions() const { return partitions_; }
    // Predicted edge and cloud time of what `e` puts on each side, before any scale.
    double edge_part_ms(const CutEstimate& e) const;
    double cloud_part_ms(const CutEstimate& e) const;

    // Predicted edge time of nodes [0, k) and cloud time of [k, n), before any scale.
    double prefix_ms(int k) const { return prefix_[size_t(k)]; }
    double suffix_ms(int k) const { return suffix_[size_t(k)]; }
    const std::vector<double>& edge_node_ms() const { return edge_ms_; }
    const std::vector<double>& cloud_node_ms() const { return cloud_ms_; }

  private:
    // One (cut, encoding): the sides' unscaled times, the bytes as fp32 and what `ratio` of
    // them `w` sends.
    CutEstimate price(int cut, bool all_edge, double prefix, double suffix, size_t live,
                      const WireOption& w, double ratio, const LinkState& link) const;

    PowerModel power_;
    std::vector<double> edge_ms_, cloud_ms_;  // per node
    std::vector<double> prefix_, suffix_;     // per cut
    std::vector<size_t> live_bytes_;          // per cut
    size_t output_bytes_ = 0;
    std::vector<NodeSet> partitions_;
    std::vector<double> part_edge_ms_, part_cloud_ms_;  // per partition
    std::vector<size_t> part_bytes_;
};

}  // namespace nse
