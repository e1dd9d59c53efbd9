// Test peers for the network tests: a raw client that sends arbitrary bytes and reads one frame,
// and a fake cloud that misbehaves on purpose.
#pragma once

#include <asio.hpp>
#include <asio/ssl.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "net/protocol.h"
#include "tests/test_helpers.h"

namespace nse::test {

// Blocking socket with a receive timeout, for speaking bad protocol to the server; over TLS
// (without verifying the server: these tests are about what the server does) when `tls` is set.
class RawClient {
  public:
    explicit RawClient(uint16_t port, bool tls = false) : sock_(io_) {
        sock_.connect({asio::ip::make_address("127.0.0.1"), port});
        timeval tv{5, 0};
        setsockopt(sock_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        if (tls) {
            ssl_ = std::make_unique<asio::ssl::stream<asio::ip::tcp::socket&>>(sock_, tls_ctx_);
            ssl_->handshake(asio::ssl::stream_base::client);
        }
    }
    void send(const std::vector<uint8_t>& bytes) {
        std::error_code ec;
        if (ssl_)
            asio::write(*ssl_, asio::buffer(bytes), ec);
        else
            asio::write(sock_, asio::buffer(bytes), ec);
    }
    void send_frame(net::MsgType type, const std::vector<uint8_t>& payload,
                    uint64_t declared = ~0ull, uint32_t magic = net::kMagic,
                    uint16_t version = net::kProtocolVersion, uint16_t raw_type = 0) {
        net::FrameHeader h;
        h.magic = magic;
        h.version = version;
        h.type = raw_type ? raw_type : uint16_t(type);
        h.payload_bytes = declared == ~0ull ? payload.size() : declared;
        std::vector<uint8_t> bytes(net::kHeaderBytes);
        net::encode_header(h, bytes.data());
        bytes.insert(bytes.end(), payload.begin(), payload.end());
        send(bytes);
    }
    // Reads one frame; returns its header and payload. Throws Error on EOF / timeout.
    net::FrameHeader read_frame(std::vector<uint8_t>& payload) {
        uint8_t h[net::kHeaderBytes];
        std::error_code ec;
        read(asio::buffer(h), ec);
        if (ec) throw Error(ErrorCode::Network, "read: " + ec.message());
        net::FrameHeader fh = net::decode_header(h);
        payload.resize(fh.payload_bytes);
        read(asio::buffer(payload), ec);
        if (ec) throw Error(ErrorCode::Network, "read payload: " + ec.message());
        return fh;
    }
    // Expects an ERROR frame with `code`, then the connection closed by the server.
    void expect_error_then_close(net::WireError code) {
        std::vector<uint8_t> p;
        net::FrameHeader h = read_frame(p);
        ASSERT_EQ(h.type, uint16_t(net::MsgType::Error));
        net::ErrorReply e = net::decode_error(p.data(), p.size());
        EXPECT_EQ(e.code, code) << "message: " << e.message;
        EXPECT_TRUE(closed()) << "server kept the connection open";
    }
    bool closed() {
        uint8_t b;
        std::error_code ec;
        if (ssl_)
            ssl_->read_some(asio::buffer(&b, 1), ec);
        else
            sock_.read_some(asio::buffer(&b, 1), ec);
        return ec == asio::error::eof || ec == asio::error::connection_reset ||
               ec == asio::ssl::error::stream_truncated;
    }
    void close() {
        std::error_code ec;
        sock_.close(ec);
    }
    // Sets how long a read waits before failing.
    void set_read_timeout(double seconds) {
        timeval tv{time_t(seconds), suseconds_t((seconds - time_t(seconds)) * 1e6)};
        setsockopt(sock_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }

  private:
    void read(asio::mutable_buffer b, std::error_code& ec) {
        if (ssl_)
            asio::read(*ssl_, b, ec);
        else
            asio::read(sock_, b, ec);
    }

    asio::io_context io_;
    asio::ip::tcp::socket sock_;
    asio::ssl::context tls_ctx_{asio::ssl::context::tls_client};
    std::unique_ptr<asio::ssl::stream<asio::ip::tcp::socket&>> ssl_;
};

// A cloud that answers HELLO properly (serving `model` with `hash`) and then misbehaves on the
// first INFER: closes the connection, or never answers.
// Closing a listening socket does not wake a thread blocked in accept() on it: a connection
// does (the accepting loop then sees its stop flag).
inline void wake_accept(const asio::ip::tcp::acceptor& acceptor) {
    asio::io_context io;
    asio::ip::tcp::socket s(io);
    std::error_code ec;
    s.connect({asio::ip::make_address("127.0.0.1"), acceptor.local_endpoint(ec).port()}, ec);
}

class FakeCloud {
  public:
    enum class Mode { CloseOnInfer, NeverReply };
    FakeCloud(Mode mode, std::string model, uint64_t hash)
        : acceptor_(io_, {asio::ip::make_address("127.0.0.1"), 0}), mode_(mode) {
        hello_ =
            nlohmann::json{{"models", {{{"name", model}, {"hash", net::hash_hex(hash)}}}}}.dump();
        thread_ = std::thread([this] { serve(); });
    }
    ~FakeCloud() {
        stop_ = true;
        wake_accept(acceptor_);
        std::error_code ec;
        acceptor_.close(ec);
        if (thread_.joinable()) thread_.join();
    }
    uint16_t port() const { return acceptor_.local_endpoint().port(); }

  private:
    void serve() {
        while (!stop_) serve_one();  // every connection alike: a retry meets the same fault
    }
    void serve_one() {
        std::error_code ec;
        asio::ip::tcp::socket s(io_);
        acceptor_.accept(s, ec);
        if (ec) {
            stop_ = true;
            return;
        }
        for (;;) {
            uint8_t h[net::kHeaderBytes];
            asio::read(s, asio::buffer(h), ec);
            if (ec) return;
            net::FrameHeader fh = net::decode_header(h);
            std::vector<uint8_t> p(fh.payload_bytes);
            asio::read(s, asio::buffer(p), ec);
            if (ec) return;
            if (fh.type == uint16_t(net::MsgType::Hello)) {
                auto payload = net::encode_json(hello_);
                net::FrameHeader r;
                r.type = uint16_t(net::MsgType::HelloAck);
                r.payload_bytes = payload.size();
                std::vector<uint8_t> out(net::kHeaderBytes);
                net::encode_header(r, out.data());
                out.insert(out.end(), payload.begin(), payload.end());
                asio::write(s, asio::buffer(out), ec);
                continue;
            }
            if (mode_ == Mode::CloseOnInfer) return;  // socket closes mid-request
            while (!stop_) std::this_thread::sleep_for(std::chrono::milliseconds(10));
            return;
        }
    }

    asio::io_context io_;
    asio::ip::tcp::acceptor acceptor_;
    Mode mode_;
    std::string hello_;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

// A TCP proxy on loopback that forwards to `upstream_port`, pacing each direction to
// `bytes_per_s`: an in-process rate-limited link for the bandwidth estimator.
class RateLimitedProxy {
  public:
    RateLimitedProxy(uint16_t upstream_port, double bytes_per_s)
        : acceptor_(io_, {asio::ip::make_address("127.0.0.1"), 0}),
          upstream_(upstream_port),
          rate_(bytes_per_s) {
        thread_ = std::thread([this] { serve(); });
    }
    ~RateLimitedProxy() {
        stop_ = true;
        std::error_code ec;
        acceptor_.close(ec);
        if (thread_.joinable()) thread_.join();
        // shutdown() wakes the pumps' blocking reads; close() alone would not.
        if (client_) client_->shutdown(asio::ip::tcp::socket::shutdown_both, ec);
        if (server_) server_->shutdown(asio::ip::tcp::socket::shutdown_both, ec);
        for (auto& t : pumps_) t.join();
    }
    RateLimitedProxy(const RateLimitedProxy&) = delete;
    RateLimitedProxy& operator=(const RateLimitedProxy&) = delete;
    uint16_t port() const { return acceptor_.local_endpoint().port(); }
    void set_rate(double bytes_per_s) { rate_ = bytes_per_s; }

  private:
    void serve() {
        std::error_code ec;
        client_ = std::make_unique<asio::ip::tcp::socket>(io_);
        acceptor_.accept(*client_, ec);
        if (ec) return;
        server_ = std::make_unique<asio::ip::tcp::socket>(io_);
        server_->connect({asio::ip::make_address("127.0.0.1"), upstream_}, ec);
        if (ec) return;
        client_->set_option(asio::ip::tcp::no_delay(true), ec);  // no Nagle stalls on the
        server_->set_option(asio::ip::tcp::no_delay(true), ec);  // paced small writes
        pumps_.emplace_back([this] { pump(*client_, *server_); });
        pumps_.emplace_back([this] { pump(*server_, *client_); });
    }
    void pump(asio::ip::tcp::socket& from, asio::ip::tcp::socket& to) {
        std::vector<uint8_t> buf(4096);
        auto due = std::chrono::steady_clock::now();
        while (!stop_) {
            std::error_code ec;
            const size_t n = from.read_some(asio::buffer(buf), ec);
            if (ec) break;
            due = std::max(due, std::chrono::steady_clock::now()) +
                  std::chrono::microseconds(int64_t(1e6 * double(n) / rate_.load()));
            std::this_thread::sleep_until(due);
            asio::write(to, asio::buffer(buf.data(), n), ec);
            if (ec) break;
        }
        std::error_code ec;
        to.shutdown(asio::ip::tcp::socket::shutdown_send, ec);
    }

    asio::io_context io_;
    asio::ip::tcp::acceptor acceptor_;
    uint16_t upstream_;
    std::atomic<double> rate_;
    std::atomic<bool> stop_{false};
    std::unique_ptr<asio::ip::tcp::socket> client_, server_;
    std::thread thread_;
    std::vector<std::thread> pumps_;
};

// A TCP proxy on loopback to `upstream_port` that cuts its first connection once the client
// has sent more than `cut_after` bytes (past the HELLO, into the first INFER): a replica behind
// a load balancer dying mid-request. Later connections pass untouched.
class FlakyProxy {
  public:
    FlakyProxy(uint16_t upstream_port, size_t cut_after)
        : acceptor_(io_, {asio::ip::make_address("127.0.0.1"), 0}),
          upstream_(upstream_port),
          cut_after_(cut_after) {
        thread_ = std::thread([this] { serve(); });
    }
    ~FlakyProxy() {
        stop_ = true;
        wake_accept(acceptor_);
        std::error_code ec;
        acceptor_.close(ec);
        if (thread_.joinable()) thread_.join();
        for (auto& s : sockets_) s->shutdown(asio::ip::tcp::socket::shutdown_both, ec);
        for (auto& t : pumps_) t.join();
    }
    FlakyProxy(const FlakyProxy&) = delete;
    FlakyProxy& operator=(const FlakyProxy&) = delete;
    uint16_t port() const { return acceptor_.local_endpoint().port(); }
    int connections() const { return connections_.load(); }

  private:
    using Socket = asio::ip::tcp::socket;
    void serve() {
        while (!stop_) {
            std::error_code ec;
            auto client = std::make_shared<Socket>(io_);
            acceptor_.accept(*client, ec);
            if (ec || stop_) return;
            auto server = std::make_shared<Socket>(io_);
            server->connect({asio::ip::make_address("127.0.0.1"), upstream_}, ec);
            if (ec) return;
            const bool cut = connections_.fetch_add(1) == 0;
            sockets_.push_back(client);
            sockets_.push_back(server);
            pumps_.emplace_back([=] { pump(*client, *server, cut ? cut_after_ : SIZE_MAX); });
            pumps_.emplace_back([=] { pump(*server, *client, SIZE_MAX); });
        }
    }
    void pump(Socket& from, Socket& to, size_t limit) {
        std::vector<uint8_t> buf(4096);
        size_t total = 0;
        std::error_code ec;
        while (!stop_) {
            const size_t n = from.read_some(asio::buffer(buf), ec);
            if (ec) break;
            total += n;
            if (total > limit) {  // the replica dies: both ends see the connection go
                from.shutdown(Socket::shutdown_both, ec);
                to.shutdown(Socket::shutdown_both, ec);
                return;
            }
            asio::write(to, asio::buffer(buf.data(), n), ec);
            if (ec) break;
        }
        to.shutdown(Socket::shutdown_send, ec);
    }

    asio::io_context io_;
    asio::ip::tcp::acceptor acceptor_;
    uint16_t upstream_;
    size_t cut_after_;
    std::atomic<bool> stop_{false};
    std::atomic<int> connections_{0};
    std::vector<std::shared_ptr<Socket>> sockets_;
    std::thread thread_;
    std::vector<std::thread> pumps_;
};

}  // namespace nse::test
