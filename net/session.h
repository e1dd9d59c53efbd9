// One edge connection of the cloud: the TLS handshake where the server speaks TLS, then reads and
// validates frames (HELLO with its token, PROBE, INFER), answers what needs no compute on the
// I/O thread, hands INFER jobs to the scheduler and writes their replies; any protocol violation
// or failed authentication gets an ERROR reply and closes this connection only. Timeouts bound
// the handshake, idle connections and unfinished messages. Used on the server's one I/O thread.
#pragma once

#include <asio.hpp>
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "net/auth.h"
#include "net/frame.h"
#include "net/metrics.h"
#include "net/scheduler.h"
#include "net/server.h"

namespace nse::net {

class Session;

// What every session of a server shares.
struct ServerState {
    explicit ServerState(ServerOptions o, std::vector<ServedModel> m)
        : opts(std::move(o)),
          models(std::move(m)),
          tls(opts.tls.enabled() ? make_server_tls(opts.tls) : nullptr) {}

    ServerOptions opts;
    std::vector<ServedModel> models;
    std::shared_ptr<asio::ssl::context> tls;  // null: plaintext
    Metrics metrics;
    AuthThrottle throttle;  // touched on the I/O thread only
    asio::io_context io;
    std::set<std::shared_ptr<Session>> sessions;  // touched on the I/O thread only
    Scheduler scheduler{opts};
    std::atomic<uint64_t> probes{0};
    std::mutex log_mu;
    std::atomic<bool> ready{opts.ready};
    std::atomic<int> ready_percent{-1};  // progress of the work before ready, -1 unknown

    // One line on opts.log (if set), prefixed "nsengine cloud: ".
    void log(const std::string& line);
    const ServedModel* find(const std::string& name) const;
    // The HELLO_ACK document, listing the models `grant` allows (all when null).
    nlohmann::json hello(const TokenStore::Grant* grant = nullptr);
    Metrics::Gauges gauges();
};

// What a reply's metrics need to know about its request.
struct RequestRecord {
    const ServedModel* served = nullptr;
    uint32_t cut = 0;
    double receive_s = 0, queue_s = 0, compute_s = 0;
    uint32_t batch = 1;
};

class Session : public std::enable_shared_from_this<Session> {
  public:
    Session(ServerState& srv, asio::ip::tcp::socket sock);

    const std::string& peer() const { return peer_; }
    // Starts with the TLS handshake where the server speaks TLS; `busy` answers ERROR busy
    // (after the handshake) instead of serving.
    void start(bool busy = false);

    // Answers ERROR and closes; used for protocol violations, timeouts and refusals.
    void fail(WireError code, const std::string& message, uint64_t id = 0);

    // Closes the socket and forgets this session (it is freed when the last job or reply that
    // holds it is done).
    void close();

    // After an ERROR: stop sending, then read and discard what the client still sends (a
    // bounded amount, for a bounded time) so that closing does not reset the connection before
    // the client has read the ERROR.
    void drain_and_close();

    // Called on the I/O thread with a finished job's reply.
    void reply(std::shared_ptr<Frame> frame, std::string log_line, RequestRecord record);

  private:
    void on_handshake(std::error_code ec, bool busy);
    void refuse_busy();
    // Counts and logs a failed authentication and answers ERROR `code` once the throttle allows
    // (`throttled`: the failure counts towards this address's slowdown).
    void refuse(const char* reason, WireError code, const std::string& message, bool throttled);
    // Checks a HELLO document's token and requested models; true when it may proceed.
    bool authenticate(const nlohmann::json& hello);
    // A timer that fails the session with Timeout (`what` names the wait) or just closes it.
    void arm(double seconds, const char* what);
    void arm_close(double seconds);
    void drain(size_t budget);
    void read_header();
    void on_header(std::error_code ec);
    void on_payload(std::error_code ec);

    // Writes `frame`, then calls `then(true)`; on failure closes the session and calls
    // `then(false)`.
    void write(std::shared_ptr<Frame> frame, std::function<void(bool sent)> then);

    ServerState& srv_;
    Stream stream_;
    asio::steady_timer timer_;
    std::string peer_, peer_ip_;
    // With tokens: the grant of the token this connection's HELLO carried (null before one).
    const TokenStore::Grant* grant_ = nullptr;
    uint8_t hdr_[kHeaderBytes];
    FrameHeader header_;
    uint16_t peer_version_ = kProtocolVersion;  // of the edge's last frame; replies use it
    std::shared_ptr<float> payload_;
    size_t size_ = 0, capacity_ = 0;
    std::chrono::steady_clock::time_point first_byte_;
    bool closed_ = false;
};

}  // namespace nse::net
