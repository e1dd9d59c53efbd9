// The edge's connection to a cloud server: blocking calls with deadlines (asio underneath).
// Every failure is an nse::Error: Network (refused, reset, protocol violation), Timeout, or
// RemoteError when the cloud answered ERROR.
#pragma once

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "net/protocol.h"
#include "net/tls.h"

namespace nse::net {

struct ClientOptions {
    std::string host = "127.0.0.1";
    uint16_t port = 9999;
    double connect_timeout_s = 2;
    double request_timeout_s = 30;  // whole request: send, cloud time, receive
    uint64_t max_message_bytes = 256ull << 20;
    TlsClientConfig tls;  // tls.enabled: TLS with certificate and host name verification
    std::string token;    // sent in HELLO when set (net/auth.h)
};

class RemoteError : public Error {
  public:
    RemoteError(WireError wire, const std::string& message)
        : Error(ErrorCode::Network,
                std::string("cloud answered ERROR ") + wire_error_name(wire) + ": " + message),
          wire_(wire) {}
    WireError wire() const { return wire_; }

  private:
    WireError wire_;
};

struct InferReply {
    ResultReply result;              // tensors are views of `payload`
    std::shared_ptr<float> payload;  // keeps them alive
    double send_ms = 0;              // until the last request byte was handed to the kernel
    double total_ms = 0;             // request start to reply complete
};

struct ProbeReply {
    ProbeAck ack;
    bool has_backlog = false;  // the cloud speaks version 4 (ack.backlog_us is its load)
    double total_ms = 0;
};

class CloudClient {
  public:
    explicit CloudClient(ClientOptions options);
    ~CloudClient();
    CloudClient(const CloudClient&) = delete;
    CloudClient& operator=(const CloudClient&) = delete;

    // Connects (with the TLS handshake when options().tls.enabled) and exchanges HELLO /
    // HELLO_ACK, adding the token to `hello`; returns the cloud's HELLO_ACK document.
    nlohmann::json connect(const nlohmann::json& hello);
    bool connected() const { return connected_; }
    void close();

    InferReply infer(const InferRequest& request, uint64_t request_id);
    ProbeReply probe(size_t bytes, bool echo);

    const ClientOptions& options() const { return opts_; }

  private:
    struct Io;
    // Sends one frame (header, head bytes, tensor blocks) and reads the reply frame of
    // `expect` type into an aligned buffer; all before `deadline`.
    std::shared_ptr<float> exchange(MsgType type, uint64_t id, uint32_t flags, const Outgoing& out,
                                    MsgType expect, FrameHeader& reply,
                                    std::chrono::steady_clock::time_point deadline,
                                    double* send_ms);

    ClientOptions opts_;
    std::unique_ptr<Io> io_;
    bool connected_ = false;
    // The largest message the cloud takes (its HELLO_ACK's max_message_bytes; 0: not said).
    uint64_t peer_max_message_bytes_ = 0;
    std::shared_ptr<float> filler_;
    size_t filler_bytes_ = 0;
};

}  // namespace nse::net
