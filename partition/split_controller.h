// The per-request split decision of an edge (Neurosurgeon's runtime phase): the edge's profile
// and the cloud's (published in HELLO_ACK), the link estimate from the edge's own transfers, and
// how fast each side runs now against its profile. decide() picks the cut for the next request;
// record() learns from how it went; wants_probe() says when a request kept on the edge should be
// followed by a link probe. It moves no bytes: net/edge.cpp does, and asks this what to do.
#pragma once

#include <chrono>
#include <memory>

#include "partition/link_model.h"
#include "partition/planner.h"
#include "partition/speed.h"

namespace nse {

// What one finished request measured.
struct SplitOutcome {
    double edge_ms = 0;           // the prefix on the edge
    bool offloaded = false;       // the cloud computed the suffix (else: all local, or fallback)
    double cloud_compute_ms = 0;  // the cloud's compute time, from its RESULT
    size_t sent_bytes = 0;        // the cut's tensors
    double upload_ms = 0;         // the cloud's receive time, first to last byte
    std::chrono::steady_clock::time_point upload_start;  // when the request left the edge
    double network_ms = 0;        // the rest of the round trip: latency, download, framing
    double cloud_backlog_ms = 0;  // the cloud's predicted wait for the next request
    uint32_t cloud_batch = 1;     // images the cloud computed together with ours
    std::string wire = "fp32";    // how the cut's tensors were sent
    size_t raw_bytes = 0;         //   and their size as fp32
    // The edge worked meanwhile (timed a prefix, prepared a cut: edge_probe_cut, prepare_next):
    // on a device short of CPU that work delays reading the reply, and the round trip then says
    // nothing of the link (a quarter-CPU edge took 9 ms of it for upload time and its link for
    // 0.6 Mbit/s where it had 5). The link learns nothing from such a request.
    bool edge_busy = false;
};

class SplitController {
  public:
    // `link`: the edge's estimate of the link, fed by its probes (and by record()); it outlives
    // this controller.
    // `dag_cuts`: partitions that are not positions are candidates too (Planner).
    SplitController(const Model& model, std::shared_ptr<const DeviceProfile> edge,
                    Objective objective, LinkModel& link, bool dag_cuts = true);

    // A (re)connected cloud: its profile (null when it publishes none: no automatic split) and
    // its backlog. A profile equal to the current one (a reconnect, or another replica of the
    // same cloud tier behind a load balancer) keeps the planner and what was learnt.
    void set_cloud(std::unique_ptr<DeviceProfile> cloud, double backlog_ms);
    // Whether decide() can choose: a cloud profile is known.
    bool ready() const { return planner_ != nullptr; }
    const DeviceProfile* cloud_profile() const { return cloud_profile_.get(); }
    const DeviceProfile& edge_profile() const { return *edge_profile_; }
    // The encodings the cut's tensors may travel in (none: fp32 only). The bytes a coded one
    // makes of a cut are then learnt from the requests sent in it.
    void set_wires(std::vector<WireOption> wires);
    const std::vector<WireOption>& wires() const { return wires_; }
    // The weight of the toll on joining the cloud's queue (LinkState::queue_toll, queue_toll()
    // in partition/planner.h; kDefaultQueueToll unless set).
    void set_queue_toll(double toll) { queue_toll_ = toll; }
    double queue_toll() const { return queue_toll_; }

    struct Decision {
        int cut = 0;           // a position, or the count of `nodes`
        NodeSet nodes;         // a partition that is not a position (else empty)
        CutEstimate estimate;  // for that cut
        LinkState link;        // what it assumed
        // The position that would be best if every cut were prepared, where it is not (and is
        // not `cut`): the edge prepares it while this request waits for the cloud, so the next
        // can take it without paying its first run. -1: none.
        int prepare_next = -1;
    };
    // The best cut for the next request now (ready() must hold). The cloud's backlog is taken
    // as it was last published less what the cloud has worked off since (at the speed it has
    // been seen to run): an edge that keeps its requests local hears of the cloud only from its
    // occasional probes, and a backlog heard while the cloud was loaded would keep it away
    // from a cloud that has since gone idle.
    Decision decide(
        std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now()) const;
    // The `count` positions (all-edge among them) predicted best now, best first: the edge
    // prepares their
    // plans at connect, so the first request at one of them costs what later ones do.
    std::vector<int> likely_cuts(int count) const;
    // What the request decided as `d` measured.
    void record(const Decision& d, const SplitOutcome& outcome);

    // A cut's first run in a process maps its plan's memory (page faults: 4-7 ms of MobileNetV2's
    // 4-10 ms prefixes on a whole core, 25-30 ms on a quarter of one), paid by the request that
    // runs it. decide() adds that to each position not yet prepared, so an edge does not switch
    // to a cut that saves it less than that, and names the one it would switch to
    // (Decision::prepare_next) for the edge to prepare while the cloud works, where that takes
    // at most half the request's predicted wait for the reply (as a timed prefix may: together
    // they fit the wait).
    // `bytes`: per position 0..n, the memory its first run maps (Executor::first_run_bytes);
    // empty (the default): first runs cost nothing.
    void set_first_run_bytes(std::vector<size_t> bytes);
    bool first_run_bytes_known() const { return !first_run_bytes_.empty(); }
    // The edge has prepared position k, mapping first_run_bytes(k) in `ms` (0: not timed). The
    // times give the rate first runs are priced at (none until one is timed).
    void prepared(int k, double ms);
    bool is_prepared(int k) const {
        return size_t(k) >= first_run_bytes_.size() || first_run_bytes_[size_t(k)] == 0;
    }
    // What decide() adds for position k's first run now.
    double first_run_ms(int k) const {
        return is_prepared(k) ? 0 : double(first_run_bytes_[size_t(k)]) * prepare_ms_per_byte();
    }
    // After a request kept on the edge with the cloud connected: whether to measure the link now
    // (no transfer tells whether it got better): after two local requests, at most every
    // kProbeInterval (a 50 us model would otherwise spend its time probing).
    bool wants_probe();
    // A probe just measured the link (at connect or after wants_probe()); `backlog_ms` is the
    // cloud's load its PROBE_ACK published (negative: a cloud that does not say).
    void probed(double backlog_ms = -1) {
        last_link_sample_ = std::chrono::steady_clock::now();
        if (backlog_ms >= 0) learn_backlog(backlog_ms);
    }

    // While an offloaded request waits for the cloud, the edge's CPU is idle: the prefix [0, k)
    // it should time meanwhile, or 0 for none. A request that runs nothing (or too little to
    // time) on the edge says nothing of the edge's speed, so a profile wrong about it was never
    // corrected while the cloud won: a quarter-CPU edge whose deployed profile put AlexNet at
    // 196 ms, where it ran in 120-157, kept sending its input at cut 0 when a cut after the
    // convolutions was 1.5x faster (docs/split.md). Asked for when no edge time was measured
    // for kEdgeProbeEvery (so the edge's factor never lapses to 1 while the cloud works): the
    // longest position whose prefix is predicted, at the current factor, to take at most half
    // of the request's wait for the cloud and at most kEdgeProbeMaxMs (a loaded cloud's long
    // waits buy no longer probe), else the shortest prefix that can be timed (a profile that
    // overrates the edge's times would otherwise never let one fit; then one node's time per
    // kEdgeProbeEvery, whatever it is). Never the request's own cut, whose live tensors are
    // in use.
    int edge_probe_cut(const Decision& d, std::chrono::steady_clock::time_point now =
                                              std::chrono::steady_clock::now()) const;
    // The edge ran [0, k) of edge_probe_cut() in `measured_ms`.
    void edge_probed(int k, double measured_ms) {
        if (planner_) edge_speed_.add(measured_ms, planner_->prefix_ms(k));
    }

    const SpeedTracker& edge_speed() const { return edge_speed_; }
    const SpeedTracker& cloud_speed() const { return cloud_speed_; }
    const Planner* planner() const { return planner_.get(); }

    static constexpr std::chrono::milliseconds kProbeInterval{100};
    static constexpr std::chrono::seconds kEdgeProbeEvery{5};
    static constexpr double kEdgeProbeMaxMs = 50;
    static constexpr double kDefaultQueueToll = 1;

  private:
    void learn_backlog(double ms) {
        cloud_backlog_ms_ = ms;
        backlog_at_ = std::chrono::steady_clock::now();
    }

    const Model& model_;
    std::shared_ptr<const DeviceProfile> edge_profile_;
    Objective objective_;
    bool dag_cuts_;
    std::unique_ptr<DeviceProfile> cloud_profile_;
    std::unique_ptr<Planner> planner_;
    std::vector<WireOption> wires_;
    double queue_toll_ = kDefaultQueueToll;
    LinkModel& link_;
    SpeedTracker edge_speed_, cloud_speed_;
    double cloud_backlog_ms_ = 0;                         // as last published
    std::chrono::steady_clock::time_point backlog_at_{};  // when
    double prepare_ms_per_byte() const {
        return prepared_bytes_ > 0 ? prepared_ms_ / prepared_bytes_ : 0;
    }

    std::vector<size_t> first_run_bytes_;          // per position; 0 once prepared
    double prepared_ms_ = 0, prepared_bytes_ = 0;  // the timed preparations, summed
    int local_streak_ = 0;  // requests in a row kept on the edge by the planner
    std::chrono::steady_clock::time_point last_link_sample_{};  // last probe or offload
};

}  // namespace nse
