// nsengine bench-net: transport speed. A 10 MB tensor echoed over the connection (round-trip
// throughput), a whole-model request on the cloud (round trip minus cloud compute = the
// engine's network overhead) and the time to connect (TCP, TLS handshake, HELLO). Without
// --host, it starts its own cloud on loopback, with TLS when --tls-dir names certificates.
#include <algorithm>
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "base/thread_pool.h"
#include "net/edge.h"
#include "net/server.h"
#include "tools/cli_util.h"
#include "tools/net_util.h"
#include "weights/safetensors.h"

namespace nse {

int cmd_bench_net(int argc, char** argv) {
    cxxopts::Options opts(
        "nsengine bench-net",
        "Measure tensor transfer speed and per-request overhead against the cloud named "
        "by --host/--port, or, without them, a cloud of its own on loopback.");
    add_model_options(opts);
    add_endpoint_options(opts, "127.0.0.1");
    add_device_options(opts);
    opts.add_options()("bytes-mb", "tensor size for the throughput test, MB",
                       cxxopts::value<double>()->default_value("10"))(
        "runs", "measured runs of each test", cxxopts::value<int>()->default_value("30"))(
        "tls-dir",
        "own loopback cloud: serve TLS with DIR/server.pem and DIR/server.key, trust DIR/ca.pem "
        "(scripts/make-certs.sh DIR writes them)",
        cxxopts::value<std::string>())("h,help", "show this help");
    add_edge_security_options(opts);
    auto args = parse_args(opts, argc, argv);
    if (print_help(opts, args)) return 0;
    const DeviceOptions device = device_options(args);  // of the loopback cloud
    const int runs = args["runs"].as<int>();
    const double mb = args["bytes-mb"].as<double>();
    NSE_CHECK(runs >= 1 && runs <= 100000 && mb > 0 && mb <= 1024, ErrorCode::InvalidArgument,
              "--runs must be >= 1 and --bytes-mb in (0, 1024]");
    const size_t bytes = size_t(mb * 1e6) / 64 * 64;
    const std::shared_ptr<ThreadPool> pool = thread_pool_arg(args);
    const int threads = pool->size();
    auto model = load_model_arg(args);
    const uint64_t hash = file_content_hash(model->path());

    // Own loopback cloud unless --host or --port names one.
    std::unique_ptr<net::BackgroundServer> server;
    net::ClientOptions co;
    if (args.count("host") || args.count("port")) {
        NSE_CHECK(!args.count("tls-dir"), ErrorCode::InvalidArgument,
                  "--tls-dir is for the own loopback cloud; with --host use --tls-ca and friends");
        co = client_options(args);
        apply_edge_security(args, co);
    } else {
        net::ServerOptions so;
        so.port = 0;
        so.threads = threads;
        so.device = device;
        if (args.count("tls-dir")) {
            const std::string dir = args["tls-dir"].as<std::string>();
            so.tls.cert_file = dir + "/server.pem";
            so.tls.key_file = dir + "/server.key";
            co.tls.enabled = true;
            co.tls.ca_file = dir + "/ca.pem";
            co.tls.server_name = "localhost";
        }
        server = std::make_unique<net::BackgroundServer>(
            so, std::vector<net::ServedModel>{{model, hash}});
        co.port = server->port();
    }
    net::EdgeRunner edge(model, hash, co, pool, /*require_cloud=*/true);
    std::vector<double> connect_ms;
    for (int i = 0; i < std::min(runs, 20) + 2; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        edge.client().close();
        edge.connect();
        if (i >= 2)
            connect_ms.push_back(
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                    .count());
    }
    net::CloudClient& client = edge.client();

    std::vector<double> echo_ms, up_ms, overhead_ms, total_ms, compute_ms;
    for (int i = 0; i < 3; ++i) client.probe(bytes, true);  // warm-up
    for (int i = 0; i < runs; ++i) {
        echo_ms.push_back(client.probe(bytes, true).total_ms);
        up_ms.push_back(client.probe(bytes, false).total_ms);
    }
    Tensor input = make_input(*model, model->path(), "random");
    net::EdgeReport r;
    for (int i = 0; i < 5; ++i) edge.infer(input, 0, r);
    for (int i = 0; i < runs; ++i) {
        edge.infer(input, 0, r);
        total_ms.push_back(r.total_ms);
        compute_ms.push_back(r.cloud_compute_ms);
        overhead_ms.push_back(r.total_ms - r.cloud_compute_ms);
    }
    server.reset();
    const double echo = median(echo_ms), up = median(up_ms);
    const double rt_gbs = 2.0 * bytes / (echo / 1e3) / 1e9, up_gbs = bytes / (up / 1e3) / 1e9;
    if (args.count("json")) {
        nlohmann::json j = {{"host", co.host},
                            {"port", co.port},
                            {"own_loopback_cloud", server != nullptr},
                            {"tls", co.tls.enabled},
                            {"connect_ms", median(connect_ms)},
                            {"tensor_bytes", bytes},
                            {"round_trip_ms", echo},
                            {"round_trip_gbytes_per_s", rt_gbs},
                            {"upload_ms", up},
                            {"upload_gbytes_per_s", up_gbs},
                            {"model", model->name()},
                            {"request_total_ms", median(total_ms)},
                            {"cloud_compute_ms", median(compute_ms)},
                            {"overhead_ms", median(overhead_ms)}};
        std::cout << j.dump(2) << '\n';
        return 0;
    }
    std::cout << "cloud " << co.host << ":" << co.port << (server ? " (own, loopback)" : "")
              << (co.tls.enabled ? ", TLS" : ", plaintext") << ", medians of " << runs << " runs\n"
              << "  connect (TCP" << (co.tls.enabled ? ", TLS handshake" : "")
              << ", HELLO): " << fixed(median(connect_ms), 3) << " ms\n"
              << "  tensor of " << human_bytes(double(bytes))
              << " there and back: " << fixed(echo, 3) << " ms = " << fixed(rt_gbs, 2) << " GB/s\n"
              << "  tensor of " << human_bytes(double(bytes))
              << " one way (+ small ack): " << fixed(up, 3) << " ms = " << fixed(up_gbs, 2)
              << " GB/s\n"
              << "  " << model->name() << " all on the cloud: " << fixed(median(total_ms), 3)
              << " ms per request, cloud compute " << fixed(median(compute_ms), 3)
              << " ms, overhead " << fixed(median(overhead_ms), 3) << " ms\n";
    return 0;
}

}  // namespace nse
