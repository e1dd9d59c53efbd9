#include "net/edge.h"

#include <chrono>
#include <cstring>

namespace nse::net {

using Clock = std::chrono::steady_clock;

namespace {
double ms_since(Clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}
}  // namespace

EdgeRunner::EdgeRunner(std::shared_ptr<const Model> model, uint64_t model_hash,
                       ClientOptions options, bool require_cloud)
    : model_(model),
      hash_(model_hash),
      client_(std::move(options)),
      require_cloud_(require_cloud),
      runtime_(model) {}

const nlohmann::json& EdgeRunner::connect() {
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
    return hello_ack_;
}

const Tensor& EdgeRunner::infer(const Tensor& input, int cut, EdgeReport& report) {
    const int n = model_->size();
    NSE_CHECK(cut >= 0 && cut <= n, ErrorCode::InvalidArgument, "cut ", cut,
              " is out of range [0, ", n, "]");
    report = EdgeReport{};
    report.cut = cut;
    const auto t0 = Clock::now();
    single_.assign(1, Tensor::view(input.shape(), const_cast<float*>(input.data())));
    const std::vector<Tensor>& live = runtime_.run(0, cut, single_);
    report.edge_ms = ms_since(t0);
    if (cut == n) {  // all on the edge, by choice
        report.total_ms = report.edge_ms;
        return live[0];
    }
    try {
        if (!client_.connected()) connect();
        InferRequest req;
        req.model = model_->name();
        req.model_hash = hash_;
        req.cut = uint32_t(cut);
        const std::vector<int> ids = model_->live_at(cut);
        for (size_t i = 0; i < live.size(); ++i)
            req.tensors.push_back({model_->tensor_name(ids[i]), live[i].shape(), live[i].data()});
        for (const auto& t : req.tensors) report.sent_bytes += t.bytes();
        InferReply reply = client_.infer(req, next_id_++);
        const ResultReply& res = reply.result;
        const Shape want = model_->shapes_for_batch(input.dim(0))[model_->output_ids()[0]];
        if (res.tensors.size() != 1 || res.tensors[0].shape != want)
            throw Error(ErrorCode::Network,
                        "the cloud's RESULT does not hold the model output " + shape_str(want));
        if (output_.shape() != want) output_ = Tensor::zeros(want);
        std::memcpy(output_.data(), res.tensors[0].data, output_.bytes());
        report.offloaded = true;
        report.upload_ms = res.receive_us / 1e3;
        report.cloud_queue_ms = res.queue_us / 1e3;
        report.cloud_compute_ms = res.compute_us / 1e3;
        report.cloud_queued = res.queued;
        report.cloud_running = res.running;
        report.total_ms = ms_since(t0);
        report.network_ms = std::max(0.0, reply.total_ms - report.upload_ms -
                                              report.cloud_queue_ms - report.cloud_compute_ms);
        return output_;
    } catch (const Error& e) {
        if (require_cloud_) throw;
        report.fallback_reason = e.what();
    }
    // The cloud failed: finish locally from the live tensors the prefix left (still valid: the
    // suffix runs in a different plan of the same runtime).
    const auto t1 = Clock::now();
    const std::vector<Tensor>& out = runtime_.run(cut, n, live);
    report.local_suffix_ms = ms_since(t1);
    report.total_ms = ms_since(t0);
    return out[0];
}

}  // namespace nse::net
