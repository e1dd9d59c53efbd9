// Helpers shared by the network subcommands (cloud, edge, load, bench-net): endpoint flags,
// --split, the TLS and token flags of each side, and the secure-by-default rules (no plaintext
// beyond loopback unless --insecure).
#pragma once

#include <cxxopts.hpp>
#include <string>

#include "net/client.h"
#include "net/server.h"

namespace nse {

// -i/--host, -p/--port.
void add_endpoint_options(cxxopts::Options& opts, const std::string& default_host);
// Reads --host/--port into client options (checks the port range).
net::ClientOptions client_options(const cxxopts::ParseResult& args);
uint16_t port_arg(const cxxopts::ParseResult& args);

// 127.0.0.0/8, ::1 and "localhost".
bool is_loopback_host(const std::string& host);

// The edge's --tls, --tls-ca, --tls-server-name, --tls-cert, --tls-key, --token-file and
// --insecure.
void add_edge_security_options(cxxopts::Options& opts);
// Fills `co.tls` and `co.token` from those flags (prints a warning when the token file is
// readable by others) and refuses plaintext to a host beyond loopback without --insecure.
void apply_edge_security(const cxxopts::ParseResult& args, net::ClientOptions& co);

// The cloud's --tls-cert, --tls-key, --tls-client-ca, --token-file, --insecure,
// --handshake-timeout-s, --metrics-port and --metrics-host.
void add_cloud_security_options(cxxopts::Options& opts);
// Fills `so` from those flags and refuses to listen beyond loopback without TLS and a token or
// client certificates, unless --insecure.
void apply_cloud_security(const cxxopts::ParseResult& args, net::ServerOptions& so);

// --split (edge, cloud, auto, a cut k, nodes:HEX) as a fixed cut, or -1 for auto; `nodes` is
// set for nodes:HEX. Error(InvalidArgument) for anything else.
int parse_split(const std::string& s, const Model& model, NodeSet& nodes);

}  // namespace nse
