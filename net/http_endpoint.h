// A minimal HTTP/1.1 listener on the cloud's I/O context for /healthz, /readyz and /metrics:
// GET and HEAD only, one request per connection (Connection: close), each request bounded in
// size (8 KiB) and time (5 s), at most 16 connections at once. Enough for Prometheus, a load
// balancer's health check and curl; not a general web server.
#pragma once

#include <asio.hpp>
#include <functional>
#include <memory>
#include <string>

namespace nse::net {

struct HttpResponse {
    int status = 200;
    std::string content_type = "text/plain; charset=utf-8";
    std::string body;
};

class HttpEndpoint {
  public:
    // Called on the I/O thread with the request's path (query string removed).
    using Handler = std::function<HttpResponse(const std::string& path)>;

    HttpEndpoint(asio::io_context& io, Handler handler);
    ~HttpEndpoint();
    // Throws Error(Network) when the address cannot be used; port 0 picks a free one.
    void listen(const std::string& host, uint16_t port);
    uint16_t port() const;
    void close();  // on the I/O thread

    struct State;

  private:
    void accept();
    asio::ip::tcp::acceptor acceptor_;
    std::shared_ptr<State> state_;
};

}  // namespace nse::net
