#include "net/edge.h"

#include <chrono>
#include <cstring>
#include <utility>

namespace nse::net {

using Clock = std::chrono::steady_clock;

namespace {
double ms_since(Clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}
}  // namespace

EdgeRunner::EdgeRunner(std::shared_ptr<const Model> model, uint64_t model_hash,
                       ClientOptions options, std::shared_ptr<ThreadPool> pool, bool require_cloud,
                       const DeviceOptions& device)
    : model_(model),
      hash_(model_hash),
      client_(std::move(options)),
      require_cloud_(require_cloud),
      runtime_(make_executor(model, device, pool)),
      pool_(std::move(pool)),
      device_(device),
      partitions_(model) {}

EdgeRunner::~EdgeRunner() {
    if (edge_probe_.joinable()) edge_probe_.join();
}

double EdgeRunner::prepare_prefix(int k, int64_t batch) {
    if (runtime_->prepared(0, k, batch)) return 0;
    const auto t0 = Clock::now();
    runtime_->prepare(0, k, batch);
    return ms_since(t0);
}

void EdgeRunner::prepare_and_tell(int k) {
    const double ms = prepare_prefix(k, priced_batch());
    if (split_) split_->prepared(k, ms);
}

bool EdgeRunner::start_edge_probe(const Tensor& input) {
    const int k = std::exchange(edge_probe_k_, 0);
    const int prepare = std::exchange(prepare_k_, -1);
    if ((k <= 0 && prepare < 0) || edge_probe_.joinable()) return false;
    if (k > 0 && edge_probe_input_.shape() != input.shape())
        edge_probe_input_ = Tensor::zeros(input.shape());
    if (k > 0) std::memcpy(edge_probe_input_.data(), input.data(), input.bytes());
    edge_probe_running_k_ = k;
    edge_probe_ms_ = -1;
    background_prepared_.clear();
    edge_probe_ = std::thread([this, k, prepare] {
        try {
            if (prepare >= 0)
                background_prepared_.emplace_back(prepare, prepare_prefix(prepare, priced_batch()));
            if (k <= 0) return;
            // A plan's first run pays its allocation and page faults (2-3x a steady run): taken
            // before the clock starts, as the likely cuts' are at connect.
            const int64_t batch = edge_probe_input_.dim(0);
            const double ms = prepare_prefix(k, batch);
            if (batch == priced_batch()) background_prepared_.emplace_back(k, ms);
            const auto t0 = Clock::now();
            const std::vector<Tensor> in{
                Tensor::view(edge_probe_input_.shape(), edge_probe_input_.data())};
            runtime_->run(0, k, in);
            edge_probe_ms_ = ms_since(t0);
        } catch (...) {  // what runs the request's own cut would fail there too, and say why
            edge_probe_ms_ = -1;
        }
    });
    return true;
}

void EdgeRunner::finish_edge_probe() {
    if (!edge_probe_.joinable()) return;
    edge_probe_.join();
    if (split_ && edge_probe_running_k_ > 0 && edge_probe_ms_ >= 0)
        split_->edge_probed(edge_probe_running_k_, edge_probe_ms_);
    if (split_)
        for (const auto& [k, ms] : background_prepared_) split_->prepared(k, ms);
    background_prepared_.clear();
    edge_probe_running_k_ = 0;
}

namespace {
// Whether another connection might succeed where this one failed: it broke or the cloud was
// going away or busy, not a deadline spent or a request the cloud refused.
bool worth_retrying(const Error& e) {
    if (const auto* remote = dynamic_cast<const RemoteError*>(&e))
        return remote->wire() == WireError::ShuttingDown || remote->wire() == WireError::Busy ||
               remote->wire() == WireError::NotReady;
    return e.code() == ErrorCode::Network;
}
}  // namespace

const nlohmann::json& EdgeRunner::connect() {
    const auto t0 = Clock::now();
    struct Timed {  // counts the time even when connecting fails
        Clock::time_point t0;
        double& into;
        ~Timed() { into += ms_since(t0); }
    } timed{t0, connect_ms_};
    hello_ack_ = client_.connect({{"client", std::string("nsengine-edge ") + NSE_VERSION},
                                  {"protocol", kProtocolVersion},
                                  {"models", {model_->name()}}});
    const nlohmann::json* entry = nullptr;
    const auto models = hello_ack_.value("models", nlohmann::json::array());
    for (const auto& m : models)
        if (m.is_object() && m.value("name", "") == model_->name()) entry = &m;
    std::string problem;
    if (!entry)
        problem = "the cloud does not serve model '" + model_->name() + "'";
    else if (entry->value("hash", "") != hash_hex(hash_))
        problem = "the cloud's " + model_->name() + " is a different file (hash " +
                  entry->value("hash", "?") + ", here " + hash_hex(hash_) + ")";
    if (!problem.empty()) {
        client_.close();
        throw Error(ErrorCode::Network, problem);
    }
    if (split_) {
        finish_edge_probe();  // (prepare() below uses the runtime)
        const auto& prof =
            hello_ack_.contains("profile") ? hello_ack_["profile"] : nlohmann::json();
        split_->set_cloud(
            prof.is_object() ? std::make_unique<DeviceProfile>(DeviceProfile::from_json(prof))
                             : nullptr,
            hello_ack_.value("load", nlohmann::json::object()).value("backlog_us", 0.0) / 1e3);
        if (const DeviceProfile* cloud = split_->cloud_profile()) {
            std::vector<std::string> accepted;
            for (const auto& w : hello_ack_.value("wire", nlohmann::json::array()))
                if (w.is_string()) accepted.push_back(w.get<std::string>());
            if (accepted.empty()) accepted.push_back("fp32");  // a version-1 cloud
            split_->set_wires(wire_options(*model_, split_->edge_profile(), *cloud,
                                           calibration_.get(), wire_policy_, accepted));
        }
        if (!quick_connect_) probe_link(100);
        // The first run of a cut in a process pays the page faults of its new memory plan
        // (4-7 ms of MobileNetV2's 4-10 ms prefixes): take them now for the likeliest cuts and
        // for all-edge, where every fallback to local ends up; their times price the other
        // cuts' first runs (SplitController::set_first_run_bytes).
        if (split_->ready()) {
            if (!split_->first_run_bytes_known()) {
                std::vector<size_t> bytes;
                for (int k = 0; k <= model_->size(); ++k)
                    bytes.push_back(runtime_->prepared(0, k, priced_batch())
                                        ? 0
                                        : runtime_->first_run_bytes(0, k, priced_batch()));
                split_->set_first_run_bytes(std::move(bytes));
            }
            std::vector<int> cuts = split_->likely_cuts(3);
            cuts.push_back(model_->size());
            for (int k : cuts) prepare_and_tell(k);
        }
    } else if (probe_on_connect_ && !quick_connect_) {
        probe_link(100);
    }
    return hello_ack_;
}

void EdgeRunner::enable_auto(std::shared_ptr<const DeviceProfile> edge_profile, Objective objective,
                             WirePolicy wire, std::shared_ptr<const WireCalibration> calibration,
                             bool dag_cuts) {
    wire_policy_ = wire;
    calibration_ = std::move(calibration);
    split_ = std::make_unique<SplitController>(*model_, std::move(edge_profile), objective, link_,
                                               dag_cuts);
}

void EdgeRunner::probe_link(double budget_ms) {
    LinkModel& bandwidth = link_;
    const auto t0 = Clock::now();
    double backlog_ms = -1;
    // Round-trip time: two tiny probes; then throughput with probes growing 4x.
    for (int i = 0; i < 2; ++i) {
        const auto start = Clock::now();
        ProbeReply r = client_.probe(64, false);
        bandwidth.add_upload(64, r.ack.receive_us / 1e3, start);
        bandwidth.add_rtt(r.total_ms - r.ack.receive_us / 1e3);
    }
    for (size_t bytes = 16 * 1024; bytes <= (size_t(16) << 20); bytes *= 4) {
        const auto start = Clock::now();
        ProbeReply r = client_.probe(bytes, false);
        if (r.has_backlog) backlog_ms = r.ack.backlog_us / 1e3;
        // The cloud times first to last byte; a shaper may hold the first back until the whole
        // burst can go (SplitController::record): the round trip less the latency bounds it too.
        const double receive_ms = std::max(r.ack.receive_us / 1e3, r.total_ms - bandwidth.rtt_ms());
        bandwidth.add_upload(bytes, receive_ms, start);
        if (receive_ms > 20 || ms_since(t0) + 4 * r.total_ms > budget_ms) break;
    }
    // A probe is a link sample: the next one waits SplitController::kProbeInterval.
    if (split_) split_->probed(backlog_ms);
}

const Tensor& EdgeRunner::infer_auto(const Tensor& input, EdgeReport& report) {
    NSE_CHECK(split_, ErrorCode::InvalidArgument, "automatic splitting is not enabled");
    finish_edge_probe();  // the last request's, before this one is decided
    const int n = model_->size();
    std::string unavailable;
    if (!client_.connected()) {
        try {
            connect();
        } catch (const Error& e) {
            unavailable = std::string("cloud unavailable: ") + e.what();
        }
    }
    if (unavailable.empty() && !split_->ready()) unavailable = "the cloud publishes no profile";
    if (!unavailable.empty()) {
        if (require_cloud_) throw Error(ErrorCode::Network, unavailable);
        const Tensor& out = infer(input, n, report);
        report.fallback_reason = unavailable;
        return out;
    }
    const SplitController::Decision d = split_->decide();
    const WireEncoding wire = d.cut < n ? parse_encoding(d.estimate.wire) : WireEncoding{};
    edge_probe_k_ = split_->edge_probe_cut(d);  // started once the request is on its way
    prepare_k_ = d.prepare_next;                //   (as is this)
    const Tensor& out = d.nodes.empty() ? infer(input, d.cut, report, wire)
                                        : infer_nodes(input, d.nodes, report, wire);
    report.predicted_ms = d.estimate.total_ms;
    report.predicted_energy_mj = d.estimate.energy_mj;
    report.predicted_wait_ms = d.estimate.cloud_wait_ms;
    report.predicted_prepare_ms = d.estimate.prepare_ms;
    report.toll_ms = d.estimate.toll_ms;
    report.assumed_mbps = d.link.upload_bytes_per_ms * 8 / 1e3;
    report.assumed_rtt_ms = d.link.rtt_ms;
    report.assumed_burst_bytes = d.link.burst_bytes;
    report.assumed_burst_available_bytes = d.link.burst_available_bytes;
    report.assumed_peak_mbps = d.link.peak_bytes_per_ms * 8 / 1e3;
    report.edge_scale = d.link.edge_scale;
    report.cloud_scale = d.link.cloud_scale;
    edge_probe_k_ = 0;  // (not started where the request stayed here)
    prepare_k_ = -1;
    SplitOutcome o;
    o.edge_ms = report.edge_ms;
    o.offloaded = report.offloaded;
    o.cloud_compute_ms = report.cloud_compute_ms;
    o.sent_bytes = report.sent_bytes;
    o.upload_ms = report.upload_ms;
    o.upload_start = last_upload_start_;
    o.network_ms = report.network_ms;
    o.cloud_backlog_ms = report.cloud_backlog_ms;
    o.cloud_batch = report.cloud_batch;
    o.wire = report.wire;
    o.raw_bytes = report.raw_bytes;
    o.edge_busy = report.edge_probe_cut > 0 || report.prepared_cut >= 0;
    split_->record(d, o);
    // Kept local: measure the link now and then, after the request (its latency is taken).
    if (!report.offloaded && d.cut == n && client_.connected() && split_->wants_probe()) {
        try {
            probe_link(30);
        } catch (const Error&) {
        }
    }
    return out;
}

bool EdgeRunner::cloud_accepts(WireEncoding wire) const {
    if (wire.raw_f32()) return true;
    for (const auto& name : hello_ack_.value("wire", nlohmann::json::array()))
        if (name.is_string() && name.get<std::string>() == wire.name()) return true;
    return false;
}

const Tensor& EdgeRunner::infer(const Tensor& input, int cut, EdgeReport& report,
                                WireEncoding wire) {
    finish_edge_probe();
    const int n = model_->size();
    NSE_CHECK(cut >= 0 && cut <= n, ErrorCode::InvalidArgument, "cut ", cut,
              " is out of range [0, ", n, "]");
    return run_split(input, model_, *runtime_, cut, nullptr, report, wire);
}

const Tensor& EdgeRunner::infer_nodes(const Tensor& input, const NodeSet& nodes, EdgeReport& report,
                                      WireEncoding wire) {
    finish_edge_probe();
    const std::shared_ptr<const Model> m = partitions_.get(nodes);
    if (m == model_) return infer(input, edge_count(nodes), report, wire);
    auto& rt = partition_runtimes_[m.get()];
    if (!rt) rt = make_executor(m, device_, pool_);
    return run_split(input, m, *rt, edge_count(nodes), &nodes, report, wire);
}

const Tensor& EdgeRunner::offload(const Tensor& input, const Model& m, int cut,
                                  const NodeSet* nodes, const std::vector<Tensor>& live,
                                  WireEncoding wire, EdgeReport& report, double connected_before_ms,
                                  Clock::time_point t0) {
    report.raw_bytes = report.sent_bytes = 0;
    InferRequest req;
    req.model = model_->name();
    req.model_hash = hash_;
    req.cut = uint32_t(cut);
    if (nodes) {
        req.node_bits = uint32_t(m.size());
        req.nodes = pack_nodes(*nodes);
    }
    const std::vector<int> ids = m.live_at(cut);
    if (!cloud_accepts(wire)) wire = {};
    const auto te = Clock::now();
    encoded_.resize(live.size());
    for (size_t i = 0; i < live.size(); ++i) {
        WireTensor t{m.tensor_name(ids[i]), live[i].shape(), live[i].data()};
        encoded_[i].clear();
        if (!wire.raw_f32() && encode_tensor(live[i].data(), live[i].shape(), wire, encoded_[i])) {
            t.encoding = wire;
            t.encoded = encoded_[i].data();
            t.encoded_bytes = encoded_[i].size();
        }
        report.raw_bytes += size_t(live[i].bytes());
        report.sent_bytes += t.bytes();
        req.tensors.push_back(std::move(t));
    }
    report.encode_ms = ms_since(te);
    report.wire = req.tensors.empty() ? "fp32" : req.tensors[0].encoding.name();
    // The edge's CPU waits from here on: time a prefix meanwhile if the controller asked.
    if (nodes || edge_probe_k_ == cut) edge_probe_k_ = 0;
    if (nodes) prepare_k_ = -1;  // (of the model's own runtime, not a partition's)
    const int probe = edge_probe_k_, prepare = prepare_k_;
    if (start_edge_probe(input)) {
        report.edge_probe_cut = probe;
        report.prepared_cut = prepare;
    }
    last_upload_start_ = Clock::now();
    InferReply reply = client_.infer(req, next_id_++);
    const ResultReply& res = reply.result;
    if (output_batch_ != input.dim(0)) {  // shape inference once per batch size
        output_shape_ = model_->shapes_for_batch(input.dim(0))[model_->output_ids()[0]];
        output_batch_ = input.dim(0);
    }
    const Shape& want = output_shape_;
    if (res.tensors.size() != 1 || res.tensors[0].shape != want)
        throw Error(ErrorCode::Network,
                    "the cloud's RESULT does not hold the model output " + shape_str(want));
    if (output_.shape() != want) output_ = Tensor::zeros(want);
    std::memcpy(output_.data(), res.tensors[0].data, output_.bytes());
    report.offloaded = true;
    report.upload_ms = res.receive_us / 1e3;
    report.cloud_queue_ms = res.queue_us / 1e3;
    report.cloud_compute_ms = res.compute_us / 1e3;
    report.cloud_decode_ms = res.decode_us / 1e3;
    report.cloud_queued = res.queued;
    report.cloud_running = res.running;
    report.cloud_backlog_ms = res.backlog_us / 1e3;
    report.cloud_batch = res.batch;
    report.connect_ms = connected_before_ms + std::exchange(connect_ms_, 0.0);
    report.total_ms = connected_before_ms + ms_since(t0);
    report.network_ms = std::max(0.0, reply.total_ms - report.upload_ms - report.cloud_queue_ms -
                                          report.cloud_decode_ms - report.cloud_compute_ms);
    return output_;
}

const Tensor& EdgeRunner::run_split(const Tensor& input, const std::shared_ptr<const Model>& m,
                                    Executor& rt, int cut, const NodeSet* nodes, EdgeReport& report,
                                    WireEncoding wire) {
    const int n = m->size();
    report = EdgeReport{};
    report.cut = cut;
    if (nodes) report.nodes = nodes_hex(*nodes);
    // Connecting before this call (infer_auto connects to plan) belongs to this request too.
    const double connected_before_ms = std::exchange(connect_ms_, 0.0);
    const auto t0 = Clock::now();
    // A cut's first run in this process pays the page faults of its new memory plan (2-3x a
    // steady prefix): taken apart, so that the prefix's time, which the planner learns the
    // edge's speed from, is the steady one. The request's total still counts it.
    if (&rt == runtime_.get() && input.dim(0) == priced_batch()) {
        report.prepare_ms = prepare_prefix(cut, priced_batch());
        if (split_) split_->prepared(cut, report.prepare_ms);
    } else {
        rt.prepare(0, cut, input.dim(0));
        report.prepare_ms = ms_since(t0);
    }
    const auto tr = Clock::now();
    single_.assign(1, Tensor::view(input.shape(), const_cast<float*>(input.data())));
    const std::vector<Tensor>& live = rt.run(0, cut, single_);
    report.edge_ms = ms_since(tr);
    if (cut == n) {  // all on the edge, by choice
        report.connect_ms = connected_before_ms;
        report.total_ms = connected_before_ms + ms_since(t0);
        return live[0];
    }
    // A connection that broke (a replica behind a load balancer died, a cloud restarted) gets
    // one more try on a fresh one while the deadline allows; then the edge finishes locally.
    bool reached = false;  // a connection was up: a cloud that cannot be reached is not retried
    for (bool retrying = false;; retrying = true) {
        try {
            if (!client_.connected()) {
                quick_connect_ = retrying;  // the link was measured moments ago
                connect();
                quick_connect_ = false;
            }
            reached = true;
            return offload(input, *m, cut, nodes, live, wire, report, connected_before_ms, t0);
        } catch (const Error& e) {
            quick_connect_ = false;
            if (!retrying && reached && worth_retrying(e) &&
                ms_since(t0) < client_.options().request_timeout_s * 1e3 / 2) {
                client_.close();
                report.retried = true;
                report.retry_reason = e.what();
                continue;
            }
            if (require_cloud_) throw;
            report.fallback_reason = e.what();
            break;
        }
    }
    // The cloud failed: finish locally from the live tensors the prefix left (still valid: the
    // suffix runs in a different plan of the same runtime).
    finish_edge_probe();
    const auto t1 = Clock::now();
    const std::vector<Tensor>& out = rt.run(cut, n, live);
    report.local_suffix_ms = ms_since(t1);
    report.connect_ms = connected_before_ms + std::exchange(connect_ms_, 0.0);
    report.total_ms = connected_before_ms + ms_since(t0);
    return out[0];
}

}  // namespace nse::net
