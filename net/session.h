// One edge connection of the cloud: reads and validates frames (HELLO, PROBE, INFER), answers
// what needs no compute on the I/O thread, hands INFER jobs to the scheduler and writes their
// replies; any protocol violation gets an ERROR reply and closes this connection only. Timeouts
// bound idle connections and unfinished messages. Used on the server's one I/O thread.
#pragma once

#include <asio.hpp>
#include <atomic>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "net/frame.h"
#include "net/scheduler.h"
#include "net/server.h"

namespace nse::net {

class Session;

// What every session of a server shares.
struct ServerState {
    explicit ServerState(ServerOptions o, std::vector<ServedModel> m)
        : opts(std::move(o)), models(std::move(m)) {}

    ServerOptions opts;
    std::vector<ServedModel> models;
    asio::io_context io;
    std::set<std::shared_ptr<Session>> sessions;  // touched on the I/O thread only
    Scheduler scheduler{opts};
    std::atomic<uint64_t> probes{0};
    std::mutex log_mu;
    bool ready = opts.ready;             // touched on the I/O thread only
    std::atomic<int> ready_percent{-1};  // progress of the work before ready, -1 unknown

    // One line on opts.log (if set), prefixed "nsengine cloud: ".
    void log(const std::string& line);
    const ServedModel* find(const std::string& name) const;
    // The HELLO_ACK document.
    nlohmann::json hello();
};

class Session : public std::enable_shared_from_this<Session> {
  public:
    Session(ServerState& srv, asio::ip::tcp::socket sock);

    const std::string& peer() const { return peer_; }
    void start() { read_header(); }

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
    void reply(std::shared_ptr<Frame> frame, std::string log_line);

  private:
    // A timer that fails the session with Timeout (`what` names the wait) or just closes it.
    void arm(double seconds, const char* what);
    void arm_close(double seconds);
    void drain(size_t budget);
    void read_header();
    void on_header(std::error_code ec);
    void on_payload(std::error_code ec);

    template <typename Done>
    void write(std::shared_ptr<Frame> frame, Done done) {
        arm(srv_.opts.io_timeout_s, "reply not taken");
        asio::async_write(sock_, frame->buffers(),
                          [self = shared_from_this(), frame, done](std::error_code ec, size_t) {
                              if (ec || self->closed_) return self->close();
                              self->timer_.cancel();
                              done();
                          });
    }

    ServerState& srv_;
    asio::ip::tcp::socket sock_;
    asio::steady_timer timer_;
    std::string peer_;
    uint8_t hdr_[kHeaderBytes];
    FrameHeader header_;
    std::shared_ptr<float> payload_;
    size_t size_ = 0, capacity_ = 0;
    std::chrono::steady_clock::time_point first_byte_;
    bool closed_ = false;
};

}  // namespace nse::net
