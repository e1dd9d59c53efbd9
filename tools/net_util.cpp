#include "tools/net_util.h"

#include "base/error.h"

namespace nse {

void add_endpoint_options(cxxopts::Options& opts, const std::string& default_host) {
    opts.add_options()("i,host", "cloud address",
                       cxxopts::value<std::string>()->default_value(default_host))(
        "p,port", "cloud TCP port", cxxopts::value<int>()->default_value("9999"));
}

uint16_t port_arg(const cxxopts::ParseResult& args) {
    const int port = args["port"].as<int>();
    NSE_CHECK(port >= 0 && port <= 65535, ErrorCode::InvalidArgument,
              "--port must be 0..65535, got ", port);
    return uint16_t(port);
}

net::ClientOptions client_options(const cxxopts::ParseResult& args) {
    net::ClientOptions o;
    o.host = args["host"].as<std::string>();
    o.port = port_arg(args);
    NSE_CHECK(o.port != 0, ErrorCode::InvalidArgument, "--port 0 is not a cloud's port");
    return o;
}

}  // namespace nse
