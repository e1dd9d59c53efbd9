// The cloud server: accepts edge clients over TCP (asio, one I/O thread; server.cpp), validates
// every frame (one Session per connection, session.h), and runs the suffix of the requested model
// on a pool of inference workers, each with its own kernel thread pool and runtimes
// (scheduler.h). A bad message gets an ERROR reply where the connection still allows it and
// closes that connection; nobody else notices.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "engine/executor.h"
#include "engine/model.h"
#include "net/auth.h"
#include "net/batch_costs.h"
#include "net/protocol.h"
#include "net/tls.h"
#include "partition/dag_cut.h"
#include "partition/profile.h"

namespace nse::net {

struct ServerOptions {
    std::string host = "127.0.0.1";
    uint16_t port = 9999;  // 0 picks a free port (see CloudServer::port)
    int threads = 1;       // kernel threads per inference worker
    int workers = 1;       // requests computed at once
    // Dynamic batching (net/scheduler.h): a worker runs up to max_batch queued images for the
    // same model and cut as one batch, waiting up to max_queue_delay_us after the first one
    // arrived for more (0: only what is already queued). max_batch 1: every request alone.
    int max_batch = 8;
    uint64_t max_queue_delay_us = 0;
    int max_clients = 64;  // connections beyond this get ERROR busy
    uint64_t max_message_bytes = 256ull << 20;
    double idle_timeout_s = 60;   // between messages
    double io_timeout_s = 30;     // to finish reading or writing a started message
    std::ostream* log = nullptr;  // one line per request and per rejected client; null = quiet
    // This machine's profile: published in HELLO_ACK and used to predict the backlog. May be
    // null (the edge then cannot choose a split automatically).
    std::shared_ptr<const DeviceProfile> profile;
    DeviceOptions device;  // where workers compute (each has its own runtime per model)
    // False: the server listens but answers every message ERROR not_ready until set_profile()
    // (the cloud builds its first profile after it has started listening).
    bool ready = true;
    // TLS (net/tls.h): with a certificate every connection speaks TLS; with a client CA every
    // client must also present a certificate that CA signed.
    TlsServerConfig tls;
    double handshake_timeout_s = 10;  // to finish the TLS handshake after connecting
    // Set: a HELLO must carry one of these tokens before any PROBE or INFER (net/auth.h).
    std::shared_ptr<const TokenStore> tokens;
    // HTTP /healthz, /readyz and /metrics on this address (net/http_endpoint.h); port -1: off,
    // 0: any free port (see CloudServer::metrics_port).
    std::string metrics_host = "127.0.0.1";
    int metrics_port = -1;
};

struct ServedModel {
    std::shared_ptr<const Model> model;
    uint64_t hash = 0;  // file_content_hash of the model file
    // Predicted compute on this cloud per cut and batch size (filled by the server from its
    // profile; empty without one).
    BatchCosts costs;
    std::vector<int> output_ids;  // live_at(n): the tensors a RESULT carries (filled by the server)
    // The model reordered for each partition edges have asked for (filled by the server).
    std::shared_ptr<PartitionedModels> partitions;
};

class CloudServer {
  public:
    CloudServer(ServerOptions options, std::vector<ServedModel> models);
    ~CloudServer();
    CloudServer(const CloudServer&) = delete;
    CloudServer& operator=(const CloudServer&) = delete;

    // Binds and listens; throws Error(Network) when the address cannot be used.
    void start();
    uint16_t port() const;
    uint16_t metrics_port() const;  // 0 when there is no metrics endpoint
    // Serves until stop() (or SIGINT/SIGTERM after stop_on_signals()); returns after every
    // worker has finished.
    void run();
    // Thread-safe; in-flight requests are answered ERROR shutting_down or dropped.
    void stop();
    void stop_on_signals();

    // Thread-safe, while run() runs: publishes `profile` (predictions, HELLO_ACK) and starts
    // serving a server started with ready = false; returns once that holds.
    void set_profile(std::shared_ptr<const DeviceProfile> profile);
    // Thread-safe: how far the work before ready has come (percent; said in not_ready replies).
    void set_progress(int percent);
    bool stopping() const;

    // The HELLO_ACK document: server, protocol, device, models (name, hash, nodes), load.
    nlohmann::json hello() const;
    // GET /metrics's body (Prometheus text format).
    std::string metrics_text() const;
    uint64_t requests_served() const;
    uint64_t probes_answered() const;

    struct Impl;

  private:
    std::unique_ptr<Impl> impl_;
};

// A CloudServer running on its own thread for the lifetime of this object (tests, bench-net).
class BackgroundServer {
  public:
    BackgroundServer(ServerOptions options, std::vector<ServedModel> models);
    ~BackgroundServer();  // stops the server and joins its thread
    uint16_t port() const { return server_.port(); }
    CloudServer& server() { return server_; }

  private:
    CloudServer server_;
    std::thread thread_;
};

// Checks an INFER against a served model: hash, cut range, that the tensors are exactly the
// cut's live set (names, order, shapes) and that they hold at most `max_decoded_bytes` as fp32
// (so a small encoded message cannot make the cloud allocate more than a raw one could). Returns
// views of fp32 tensors' data, and for encoded ones buffers of their shape for
// decode_infer_inputs() to fill.
// A node set (version 3) must be closed under predecessors with `cut` nodes; the request then
// runs on the model reordered for it, which `model` (when given) is set to (else the served one).
std::vector<Tensor> check_infer(const ServedModel& served, const InferRequest& req,
                                uint64_t max_decoded_bytes = uint64_t(-1),
                                std::shared_ptr<const Model>* model = nullptr);
// Decodes the encoded tensors of a checked INFER into the buffers check_infer returned; throws
// ProtocolError(BadTensors) for bytes that do not decode to their shape.
void decode_infer_inputs(const std::vector<WireTensor>& wire, std::vector<Tensor>& inputs);

}  // namespace nse::net
