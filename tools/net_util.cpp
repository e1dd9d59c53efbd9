#include "tools/net_util.h"

#include <asio.hpp>
#include <iostream>

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

bool is_loopback_host(const std::string& host) {
    if (host == "localhost") return true;
    std::error_code ec;
    const asio::ip::address a = asio::ip::make_address(host, ec);
    return !ec && a.is_loopback();
}

namespace {
std::string str(const cxxopts::ParseResult& args, const char* name) {
    return args.count(name) ? args[name].as<std::string>() : std::string();
}
}  // namespace

void add_edge_security_options(cxxopts::Options& opts) {
    opts.add_options("Security")("tls", "speak TLS, trusting the system's CA store")(
        "tls-ca", "speak TLS, trusting the CAs in this PEM file", cxxopts::value<std::string>())(
        "tls-server-name",
        "the name the cloud's certificate must carry (default: --host); for connecting by "
        "address",
        cxxopts::value<std::string>())(
        "tls-cert", "this edge's certificate (PEM), for a cloud that asks for one",
        cxxopts::value<std::string>())("tls-key", "its private key (PEM)",
                                       cxxopts::value<std::string>())(
        "token-file", "file holding the token the cloud asks for (its first token line)",
        cxxopts::value<std::string>())(
        "insecure",
        "allow plaintext to a cloud beyond loopback (anyone on the path can read "
        "and alter the tensors)");
}

void apply_edge_security(const cxxopts::ParseResult& args, net::ClientOptions& co) {
    net::TlsClientConfig& tls = co.tls;
    tls.ca_file = str(args, "tls-ca");
    tls.server_name = str(args, "tls-server-name");
    tls.cert_file = str(args, "tls-cert");
    tls.key_file = str(args, "tls-key");
    tls.enabled = args.count("tls") || !tls.ca_file.empty() || !tls.server_name.empty() ||
                  !tls.cert_file.empty() || !tls.key_file.empty();
    NSE_CHECK(tls.cert_file.empty() == tls.key_file.empty(), ErrorCode::InvalidArgument,
              "--tls-cert and --tls-key go together");
    const std::string token_file = str(args, "token-file");
    if (!token_file.empty()) {
        co.token = net::read_token(token_file);
        const std::string warning = net::token_file_warning(token_file);
        if (!warning.empty()) std::cerr << "nsengine: " << warning << "\n";
    }
    NSE_CHECK(tls.enabled || args.count("insecure") || is_loopback_host(co.host),
              ErrorCode::InvalidArgument, "refusing to speak plaintext to ", co.host,
              " (not loopback): add --tls-ca FILE (or --tls for the system's CAs), or --insecure");
}

void add_cloud_security_options(cxxopts::Options& opts) {
    opts.add_options("Security")("tls-cert", "serve TLS with this certificate chain (PEM)",
                                 cxxopts::value<std::string>())(
        "tls-key", "the certificate's private key (PEM)", cxxopts::value<std::string>())(
        "tls-client-ca", "require client certificates signed by a CA in this PEM file",
        cxxopts::value<std::string>())(
        "token-file",
        "require a token from this file in each HELLO: one per line, optionally followed by "
        "models=a,b",
        cxxopts::value<std::string>())(
        "insecure",
        "allow listening beyond loopback without TLS and a token or client certificates")(
        "handshake-timeout-s", "time a client has to finish the TLS handshake",
        cxxopts::value<double>()->default_value("10"))(
        "metrics-port", "serve /healthz, /readyz and /metrics over HTTP on this port (0: any)",
        cxxopts::value<int>())("metrics-host",
                               "address of the metrics endpoint (it has no authentication)",
                               cxxopts::value<std::string>()->default_value("127.0.0.1"));
}

void apply_cloud_security(const cxxopts::ParseResult& args, net::ServerOptions& so) {
    so.tls.cert_file = str(args, "tls-cert");
    so.tls.key_file = str(args, "tls-key");
    so.tls.client_ca_file = str(args, "tls-client-ca");
    NSE_CHECK(so.tls.cert_file.empty() == so.tls.key_file.empty(), ErrorCode::InvalidArgument,
              "--tls-cert and --tls-key go together");
    NSE_CHECK(so.tls.client_ca_file.empty() || so.tls.enabled(), ErrorCode::InvalidArgument,
              "--tls-client-ca needs TLS (--tls-cert/--tls-key)");
    const std::string token_file = str(args, "token-file");
    if (!token_file.empty()) {
        so.tokens = std::make_shared<net::TokenStore>(net::TokenStore::load(token_file));
        const std::string warning = net::token_file_warning(token_file);
        if (!warning.empty()) std::cerr << "nsengine cloud: " << warning << "\n";
    }
    so.handshake_timeout_s = args["handshake-timeout-s"].as<double>();
    NSE_CHECK(so.handshake_timeout_s > 0 && so.handshake_timeout_s <= 600,
              ErrorCode::InvalidArgument, "--handshake-timeout-s must be in (0, 600]");
    if (args.count("metrics-port")) {
        const int port = args["metrics-port"].as<int>();
        NSE_CHECK(port >= 0 && port <= 65535, ErrorCode::InvalidArgument,
                  "--metrics-port must be 0..65535, got ", port);
        so.metrics_port = port;
    }
    so.metrics_host = args["metrics-host"].as<std::string>();
    const bool authenticated = so.tokens || !so.tls.client_ca_file.empty();
    if (is_loopback_host(so.host) || (so.tls.enabled() && authenticated)) return;
    const std::string missing =
        !so.tls.enabled() ? (authenticated ? "TLS" : "TLS and a token or client certificates")
                          : "a token or client certificates";
    NSE_CHECK(args.count("insecure"), ErrorCode::InvalidArgument, "refusing to serve on ", so.host,
              " without ", missing,
              ": add --tls-cert/--tls-key and --token-file (or --tls-client-ca), or --insecure");
    std::cerr << "nsengine cloud: warning: serving on " << so.host << " without " << missing
              << " (--insecure)\n";
}

// --split as a fixed cut, or -1 for auto; `nodes` is set for nodes:HEX.
int parse_split(const std::string& s, const Model& model, NodeSet& nodes) {
    const int n = model.size();
    if (s == "edge") return n;
    if (s == "cloud") return 0;
    if (s == "auto") return -1;
    if (s.rfind("nodes:", 0) == 0) {
        try {
            nodes = parse_nodes_hex(s.substr(6), n);
        } catch (const Error& e) {
            throw Error(ErrorCode::InvalidArgument, "--split " + s + ": " + e.what());
        }
        NSE_CHECK(closed_under_predecessors(model, nodes), ErrorCode::InvalidArgument, "--split ",
                  s, ": the edge's nodes must include every node they read from");
        return edge_count(nodes);
    }
    char* end = nullptr;
    const long k = std::strtol(s.c_str(), &end, 10);
    NSE_CHECK(!s.empty() && *end == '\0' && k >= 0 && k <= n, ErrorCode::InvalidArgument,
              "--split must be edge, cloud, auto, a cut 0..", n, " or nodes:HEX, got '", s, "'");
    return int(k);
}

}  // namespace nse
