// Helpers shared by the network subcommands (cloud, edge, bench-net).
#pragma once

#include <cxxopts.hpp>
#include <string>

#include "net/client.h"

namespace nse {

// -i/--host, -p/--port.
void add_endpoint_options(cxxopts::Options& opts, const std::string& default_host);
// Reads --host/--port into client options (checks the port range).
net::ClientOptions client_options(const cxxopts::ParseResult& args);
uint16_t port_arg(const cxxopts::ParseResult& args);

}  // namespace nse
