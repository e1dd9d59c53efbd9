#include "net/http_endpoint.h"

#include <chrono>

#include "base/error.h"

namespace nse::net {

using asio::ip::tcp;

struct HttpEndpoint::State {
    Handler handler;
    int open = 0;
};

namespace {

constexpr int kMaxConnections = 16;
constexpr size_t kMaxRequest = 8192;

const char* status_text(int status) {
    switch (status) {
        case 200:
            return "OK";
        case 400:
            return "Bad Request";
        case 404:
            return "Not Found";
        case 405:
            return "Method Not Allowed";
        case 503:
            return "Service Unavailable";
    }
    return "Error";
}

class HttpConnection : public std::enable_shared_from_this<HttpConnection> {
  public:
    HttpConnection(tcp::socket sock, std::shared_ptr<HttpEndpoint::State> state)
        : sock_(std::move(sock)), timer_(sock_.get_executor()), buf_(kMaxRequest), state_(state) {
        ++state_->open;
    }
    ~HttpConnection() { --state_->open; }

    void start() {
        timer_.expires_after(std::chrono::seconds(5));
        timer_.async_wait([self = shared_from_this()](std::error_code ec) {
            if (!ec) self->close();
        });
        asio::async_read_until(
            sock_, buf_, "\r\n\r\n",
            [self = shared_from_this()](std::error_code ec, size_t) { self->on_request(ec); });
    }

  private:
    void on_request(std::error_code ec) {
        if (ec) {  // closed, timed out, or over kMaxRequest
            if (ec == asio::error::not_found)
                return respond(false, {400, "text/plain", "request too large\n"});
            return close();
        }
        std::istream in(&buf_);
        std::string method, target, version;
        in >> method >> target >> version;
        if (version.rfind("HTTP/1.", 0) != 0 || target.empty() || target[0] != '/')
            return respond(false, {400, "text/plain", "bad request\n"});
        if (method != "GET" && method != "HEAD")
            return respond(false, {405, "text/plain", "only GET and HEAD\n"});
        const std::string path = target.substr(0, target.find('?'));
        respond(method == "HEAD", state_->handler(path));
    }

    void respond(bool head_only, HttpResponse r) {
        auto text = std::make_shared<std::string>(
            "HTTP/1.1 " + std::to_string(r.status) + " " + status_text(r.status) +
            "\r\nContent-Type: " + r.content_type +
            "\r\nContent-Length: " + std::to_string(r.body.size()) +
            "\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n");
        if (!head_only) *text += r.body;
        asio::async_write(
            sock_, asio::buffer(*text),
            [self = shared_from_this(), text](std::error_code, size_t) { self->close(); });
    }

    void close() {
        std::error_code ec;
        timer_.cancel();
        sock_.shutdown(tcp::socket::shutdown_both, ec);
        sock_.close(ec);
    }

    tcp::socket sock_;
    asio::steady_timer timer_;
    asio::streambuf buf_;
    std::shared_ptr<HttpEndpoint::State> state_;
};

}  // namespace

HttpEndpoint::HttpEndpoint(asio::io_context& io, Handler handler)
    : acceptor_(io), state_(std::make_shared<State>()) {
    state_->handler = std::move(handler);
}

HttpEndpoint::~HttpEndpoint() {
    std::error_code ec;
    acceptor_.close(ec);
}

void HttpEndpoint::listen(const std::string& host, uint16_t port) {
    std::error_code ec;
    auto addr = asio::ip::make_address(host, ec);
    NSE_CHECK(!ec, ErrorCode::InvalidArgument, "metrics host '", host, "' is not an IP address");
    tcp::endpoint ep(addr, port);
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(64, ec);
    NSE_CHECK(!ec, ErrorCode::Network, "cannot listen for metrics on ", host, ":", port, ": ",
              ec.message());
    accept();
}

uint16_t HttpEndpoint::port() const { return acceptor_.local_endpoint().port(); }

void HttpEndpoint::close() {
    std::error_code ec;
    acceptor_.close(ec);
}

void HttpEndpoint::accept() {
    acceptor_.async_accept([this, state = state_](std::error_code ec, tcp::socket sock) {
        if (ec) {
            if (ec != asio::error::operation_aborted && acceptor_.is_open()) accept();
            return;
        }
        if (state->open < kMaxConnections) {
            std::make_shared<HttpConnection>(std::move(sock), state)->start();
        } else {
            std::error_code ignored;
            sock.close(ignored);
        }
        accept();
    });
}

}  // namespace nse::net
