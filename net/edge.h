// The edge side of a split inference: run the prefix [0, cut) locally, send the live tensors to
// the cloud, receive the output. If the cloud is unreachable, fails, answers ERROR or misses the
// deadline, the edge finishes the suffix itself from the tensors it already has: no request is
// lost (unless require_cloud asks for an error instead). A broken connection is first retried
// once on a fresh one (another replica behind a load balancer) while the deadline allows. With
// automatic splitting, the cut of each request is the SplitController's
// (partition/split_controller.h): this file moves bytes.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "engine/executor.h"
#include "net/client.h"
#include "net/wire_choice.h"
#include "partition/split_controller.h"

namespace nse::net {

struct EdgeReport {
    int cut = 0;                  // a position, or the number of nodes the edge ran
    std::string nodes;            // those nodes (nodes_hex) when they are not a position
    bool offloaded = false;       // the cloud computed the suffix
    std::string fallback_reason;  // set when the cloud was wanted but the edge finished locally
    bool retried = false;         // a first try failed and the request was sent again on a
    std::string retry_reason;     //   fresh connection, because of this
    double edge_ms = 0;           // prefix on the edge
    double prepare_ms = 0;        // making its memory ready first (a cut's first run only)
    double upload_ms = 0;         // cloud's receive time, first to last request byte
    double cloud_queue_ms = 0;
    double cloud_compute_ms = 0;
    double network_ms = 0;       // rest of the round trip: latency, download, framing
    double local_suffix_ms = 0;  // suffix on the edge after a fallback
    double connect_ms = 0;       // connecting for this request: TCP, handshake, link probe
    double total_ms = 0;
    size_t sent_bytes = 0;       // the cut's tensors as sent
    size_t raw_bytes = 0;        //   and as fp32
    std::string wire = "fp32";   // their encoding (net/wire_codec.h)
    double encode_ms = 0;        // encoding them, on the edge
    double cloud_decode_ms = 0;  // decoding them, on the cloud
    uint32_t cloud_queued = 0, cloud_running = 0;
    double cloud_backlog_ms = 0;  // the cloud's predicted wait for the next request
    uint32_t cloud_batch = 1;     // images the cloud computed together with ours
    // With --split auto: what the planner predicted for the chosen cut, and the link it assumed.
    double predicted_ms = 0;
    double predicted_energy_mj = 0;
    double predicted_wait_ms = 0;  // of predicted_ms: the cloud's backlog as assumed
    double toll_ms = 0;            // the price of that wait the choice added (queue toll)
    double assumed_mbps = 0, assumed_rtt_ms = 0;  // sustained upload rate, latency
    // The link's token bucket as assumed: its size, what was left of it, and the rate inside it.
    double assumed_burst_bytes = 0, assumed_burst_available_bytes = 0, assumed_peak_mbps = 0;
    // How fast each side was taken to run against its profile (SpeedTracker; 1 = as profiled).
    double edge_scale = 1, cloud_scale = 1;
    // A prefix [0, k) the edge timed while this request waited for the cloud, to learn its own
    // speed (SplitController::edge_probe_cut); 0: none. Its time enters edge_scale from the
    // next request on.
    int edge_probe_cut = 0;
    // With --split auto: of predicted_ms, the chosen cut's first run (mapping its memory; 0 once
    // it has run), and a cut the edge prepared while this request waited for the cloud, the one
    // it would have chosen were it ready (SplitController::Decision::prepare_next); -1: none.
    double predicted_prepare_ms = 0;
    int prepared_cut = -1;
};

class EdgeRunner {
  public:
    // The edge's own kernels run on `pool`.
    EdgeRunner(std::shared_ptr<const Model> model, uint64_t model_hash, ClientOptions options,
               std::shared_ptr<ThreadPool> pool, bool require_cloud = false,
               const DeviceOptions& device = {});
    ~EdgeRunner();

    // Runs one inference split at `cut` (0 = all cloud, size() = all edge), the cut's tensors
    // sent as `wire` (fp32 for a tensor int8 cannot carry, and for a cloud that does not take
    // `wire`), and returns the first graph output (runtime memory, valid until the next call).
    // Throws only when the cloud fails and require_cloud is set, or on local errors.
    const Tensor& infer(const Tensor& input, int cut, EdgeReport& report, WireEncoding wire = {});
    // The same for a partition: the edge runs `nodes` (closed under predecessors), the cloud
    // the rest (protocol version 3). Throws Error(InvalidArgument) for a set that is not closed.
    const Tensor& infer_nodes(const Tensor& input, const NodeSet& nodes, EdgeReport& report,
                              WireEncoding wire = {});
    // Whether the connected cloud takes `wire` (fp32 always).
    bool cloud_accepts(WireEncoding wire) const;

    // Turns on automatic splitting with this device's profile; the cloud's comes in HELLO_ACK.
    // The cut's encoding is chosen with it under `wire` (with `calibration`'s measured sizes and
    // accuracy; null: fp32, and any forced plain format).
    void enable_auto(std::shared_ptr<const DeviceProfile> edge_profile, Objective objective,
                     WirePolicy wire = {},
                     std::shared_ptr<const WireCalibration> calibration = nullptr,
                     bool dag_cuts = true);
    // Chooses the cut (connecting and probing the link first if needed) and runs infer().
    // Without a reachable cloud that publishes a profile, the whole model runs here.
    const Tensor& infer_auto(const Tensor& input, EdgeReport& report);
    // Measures the link with PROBEs of growing size until one takes ~20 ms or `budget_ms` is
    // spent; feeds the link model.
    void probe_link(double budget_ms);
    // With a fixed cut, probe the link at connect as automatic splitting does (off by default:
    // a fixed cut needs no estimate). The probe drains a shaper's burst, so fixed and automatic
    // runs meet the link in the same state (tools/netbench.sh races them).
    void set_probe_on_connect(bool on) { probe_on_connect_ = on; }
    const LinkModel& link() const { return link_; }
    // With automatic splitting: SplitController::set_queue_toll.
    void set_queue_toll(double toll) {
        if (split_) split_->set_queue_toll(toll);
    }
    // The split controller (null unless enable_auto was called).
    const SplitController* split() const { return split_.get(); }
    // The planner for the current cloud (null before a connection with a cloud profile).
    const Planner* planner() const { return split_ ? split_->planner() : nullptr; }

    // Connects now (infer() connects lazily); returns the HELLO_ACK or throws.
    const nlohmann::json& connect();
    bool connected() const { return client_.connected(); }
    const nlohmann::json& hello_ack() const { return hello_ack_; }
    CloudClient& client() { return client_; }

  private:
    // Sends the cut's tensors `live` of `m` once and returns the model output from the RESULT;
    // throws on any failure (run_split retries or finishes locally).
    const Tensor& offload(const Tensor& input, const Model& m, int cut, const NodeSet* nodes,
                          const std::vector<Tensor>& live, WireEncoding wire, EdgeReport& report,
                          double connected_before_ms, std::chrono::steady_clock::time_point t0);
    // Runs `m` (the model or one reordered for `nodes`) split at `cut`.
    const Tensor& run_split(const Tensor& input, const std::shared_ptr<const Model>& m,
                            Executor& rt, int cut, const NodeSet* nodes, EdgeReport& report,
                            WireEncoding wire);
    // While the request waits for the cloud, on a thread of its own: prepares [0, prepare_k_)
    // and times [0, edge_probe_k_) of the model on `input` (copied). False (nothing started)
    // when neither is pending or the last one still runs.
    bool start_edge_probe(const Tensor& input);
    // Waits for a started probe and hands its times to the split controller. Called before
    // anything else uses the edge's runtime or its pool.
    void finish_edge_probe();
    // Prepares [0, k) of the edge's own model at `batch` (a no-op where it is ready); returns the
    // milliseconds it took (0: nothing to do).
    double prepare_prefix(int k, int64_t batch);
    // The batch the split controller prices first runs at: the model file's.
    int64_t priced_batch() const { return model_->graph().input_shape[0]; }
    // prepare_prefix at that batch, and the controller told.
    void prepare_and_tell(int k);

    std::shared_ptr<const Model> model_;
    uint64_t hash_;
    CloudClient client_;
    bool require_cloud_;
    std::unique_ptr<Executor> runtime_;  // the edge's own device
    std::shared_ptr<ThreadPool> pool_;
    DeviceOptions device_;
    PartitionedModels partitions_;
    std::map<const Model*, std::unique_ptr<Executor>> partition_runtimes_;
    nlohmann::json hello_ack_;
    uint64_t next_id_ = 1;
    double connect_ms_ = 0;       // spent in connect() since the last request took it
    bool quick_connect_ = false;  // connect() without probing the link (a retry)
    bool probe_on_connect_ = false;
    std::chrono::steady_clock::time_point last_upload_start_;  // of the last INFER sent
    Tensor output_;
    Shape output_shape_;  // of the model output at batch output_batch_
    int64_t output_batch_ = 0;
    std::vector<Tensor> single_;
    std::vector<std::vector<uint8_t>> encoded_;  // the cut's tensors, encoded (reused)

    WirePolicy wire_policy_;
    std::shared_ptr<const WireCalibration> calibration_;
    LinkModel link_;                          // the uplink, from probes and transfers
    std::unique_ptr<SplitController> split_;  // automatic splitting

    // The prefix the next offloaded request times while it waits (0: none), and the one timing.
    int edge_probe_k_ = 0;
    std::thread edge_probe_;
    int edge_probe_running_k_ = 0;
    double edge_probe_ms_ = -1;  // its time; negative when it failed
    Tensor edge_probe_input_;
    // The position the next offloaded request prepares while it waits (-1: none), and what the
    // thread prepared: positions and their times (the probe's own prefix among them).
    int prepare_k_ = -1;
    std::vector<std::pair<int, double>> background_prepared_;
};

}  // namespace nse::net
