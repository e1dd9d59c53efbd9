// The edge side of a split inference: run the prefix [0, cut) locally, send the live tensors to
// the cloud, receive the output. If the cloud is unreachable, fails, answers ERROR or misses the
// deadline, the edge finishes the suffix itself from the tensors it already has: no request is
// lost (unless require_cloud asks for an error instead).
#pragma once

#include <memory>
#include <string>

#include "engine/runtime.h"
#include "net/client.h"

namespace nse::net {

struct EdgeReport {
    int cut = 0;
    bool offloaded = false;       // the cloud computed the suffix
    std::string fallback_reason;  // set when the cloud was wanted but the edge finished locally
    double edge_ms = 0;           // prefix on the edge
    double upload_ms = 0;         // cloud's receive time, first to last request byte
    double cloud_queue_ms = 0;
    double cloud_compute_ms = 0;
    double network_ms = 0;       // rest of the round trip: latency, download, framing
    double local_suffix_ms = 0;  // suffix on the edge after a fallback
    double total_ms = 0;
    size_t sent_bytes = 0;
    uint32_t cloud_queued = 0, cloud_running = 0;
};

class EdgeRunner {
  public:
    EdgeRunner(std::shared_ptr<const Model> model, uint64_t model_hash, ClientOptions options,
               bool require_cloud = false);

    // Runs one inference split at `cut` (0 = all cloud, size() = all edge) and returns the first
    // graph output (runtime memory, valid until the next call). Throws only when the cloud
    // fails and require_cloud is set, or on local errors.
    const Tensor& infer(const Tensor& input, int cut, EdgeReport& report);

    // Connects now (infer() connects lazily); returns the HELLO_ACK or throws.
    const nlohmann::json& connect();
    bool connected() const { return client_.connected(); }
    const nlohmann::json& hello_ack() const { return hello_ack_; }
    CloudClient& client() { return client_; }

  private:
    std::shared_ptr<const Model> model_;
    uint64_t hash_;
    CloudClient client_;
    bool require_cloud_;
    Runtime runtime_;
    nlohmann::json hello_ack_;
    uint64_t next_id_ = 1;
    Tensor output_;
    std::vector<Tensor> single_;
};

}  // namespace nse::net
