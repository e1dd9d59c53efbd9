// TLS on the edge–cloud connection (asio::ssl over OpenSSL): contexts built from PEM files, with
// errors that name the file and the cause; a Stream that is either a plain TCP socket or TLS over
// one, so the cloud's sessions and the edge's client are written once for both; and the edge's
// one-line explanation of a failed handshake (expired, unknown CA, wrong host, client
// certificate refused, a cloud that does not speak TLS).
#pragma once

#include <algorithm>
#include <asio.hpp>
#include <asio/ssl.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace nse::net {

struct TlsServerConfig {
    std::string cert_file, key_file;  // PEM; an empty cert_file serves plaintext
    std::string client_ca_file;       // set: every client must present a certificate it signed
    bool enabled() const { return !cert_file.empty(); }
};

struct TlsClientConfig {
    bool enabled = false;
    std::string ca_file;      // PEM bundle; empty: the system's trust store
    std::string server_name;  // the name the certificate must carry; empty: the host dialled
    std::string cert_file, key_file;  // this edge's certificate, for a cloud that asks for one
};

// Throw Error(InvalidArgument) naming the file and OpenSSL's reason when a file is missing, not
// PEM, or the key does not belong to the certificate.
std::shared_ptr<asio::ssl::context> make_server_tls(const TlsServerConfig& config);
std::shared_ptr<asio::ssl::context> make_client_tls(const TlsClientConfig& config);

// Prepares a client stream's TLS session for `server_name`: SNI (for host names) and the
// name or IP address its certificate is checked against.
void set_tls_peer_name(SSL* ssl, const std::string& server_name);

// Why a TLS connection failed, in words for the person at the edge (`ec` is the failed
// operation's error, `ssl` the session, whose certificate verification result it consults).
std::string explain_tls_error(SSL* ssl, const std::error_code& ec);
// True for errors of the TLS layer (asio's ssl category, or a stream cut short).
bool is_tls_error(const std::error_code& ec);

// A TCP socket, or TLS over it. Meets asio's AsyncReadStream / AsyncWriteStream, so asio's
// composed reads and writes work on it unchanged.
class Stream {
  public:
    using Socket = asio::ip::tcp::socket;
    using executor_type = Socket::executor_type;

    // tls null: plaintext.
    Stream(Socket sock, asio::ssl::context* tls) : sock_(std::move(sock)) {
        if (tls) ssl_ = std::make_unique<asio::ssl::stream<Socket&>>(sock_, *tls);
    }
    Stream(const Stream&) = delete;
    Stream& operator=(const Stream&) = delete;

    Socket& socket() { return sock_; }
    bool tls() const { return ssl_ != nullptr; }
    SSL* ssl() { return ssl_ ? ssl_->native_handle() : nullptr; }
    executor_type get_executor() { return sock_.get_executor(); }
    // Back to plaintext, before any handshake (to answer a plaintext client in its language).
    void drop_tls() { ssl_.reset(); }

    template <typename Buffers, typename Handler>
    void async_read_some(const Buffers& b, Handler&& h) {
        if (ssl_)
            ssl_->async_read_some(b, std::forward<Handler>(h));
        else
            sock_.async_read_some(b, std::forward<Handler>(h));
    }
    // TLS turns each write into at least one record (and, without Nagle, a packet): a frame's
    // small pieces (header, fields, a small tensor) are gathered into one record of up to 16 KiB
    // first. One write at a time per stream (as asio requires anyway).
    template <typename Buffers, typename Handler>
    void async_write_some(const Buffers& b, Handler&& h) {
        if (!ssl_) return sock_.async_write_some(b, std::forward<Handler>(h));
        auto it = asio::buffer_sequence_begin(b);
        const auto end = asio::buffer_sequence_end(b);
        while (it != end && asio::const_buffer(*it).size() == 0) ++it;
        if (it == end || asio::const_buffer(*it).size() >= kRecordBytes || std::next(it) == end)
            return ssl_->async_write_some(b, std::forward<Handler>(h));
        if (staging_.empty()) staging_.resize(kRecordBytes);
        const size_t n = asio::buffer_copy(asio::buffer(staging_), b);
        ssl_->async_write_some(asio::buffer(staging_.data(), n), std::forward<Handler>(h));
    }
    // Reads what of the next `n` bytes is already here (decrypted and buffered by TLS, or in the
    // socket's receive queue) without waiting; returns how many. A payload that arrived with its
    // header is then taken without another asynchronous round (and, for TLS, without asio's
    // deferred completion of a read it could satisfy at once).
    size_t read_now(void* p, size_t n) {
        size_t got = 0;
        if (ssl_) {
            SSL* s = ssl_->native_handle();
            while (got < n && SSL_pending(s) > 0) {
                const int want = int(std::min<size_t>(n - got, size_t(SSL_pending(s))));
                const int r = SSL_read(s, static_cast<uint8_t*>(p) + got, want);
                if (r <= 0) break;
                got += size_t(r);
            }
            return got;
        }
        std::error_code ec;
        const size_t ready = sock_.available(ec);
        if (ec || ready == 0 || n == 0) return 0;
        got = sock_.read_some(asio::buffer(p, std::min(n, ready)), ec);
        return ec ? 0 : got;
    }
    // Completes at once for a plaintext stream.
    template <typename Handler>
    void async_handshake(asio::ssl::stream_base::handshake_type side, Handler&& h) {
        if (ssl_)
            ssl_->async_handshake(side, std::forward<Handler>(h));
        else
            asio::post(sock_.get_executor(),
                       [h = std::forward<Handler>(h)]() mutable { h(std::error_code()); });
    }

  private:
    static constexpr size_t kRecordBytes = 16384;  // TLS's largest record payload
    Socket sock_;
    std::unique_ptr<asio::ssl::stream<Socket&>> ssl_;
    std::vector<uint8_t> staging_;
};

}  // namespace nse::net
