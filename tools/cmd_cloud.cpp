// nsengine cloud: serve every model in --models-dir to edge clients until SIGINT/SIGTERM.
#include <dirent.h>

#include <algorithm>
#include <iostream>
#include <thread>

#include "base/thread_pool.h"
#include "net/server.h"
#include "tools/cli_util.h"
#include "tools/net_util.h"
#include "weights/safetensors.h"

namespace nse {

namespace {
std::vector<std::string> model_files(const std::string& dir) {
    std::vector<std::string> names;
    DIR* d = opendir(dir.c_str());
    NSE_CHECK(d, ErrorCode::Io, "cannot read models folder ", dir);
    const std::string ext = ".safetensors", ref = ".ref.safetensors";
    while (dirent* e = readdir(d)) {
        std::string f = e->d_name;
        auto ends = [&](const std::string& s) {
            return f.size() > s.size() && f.compare(f.size() - s.size(), s.size(), s) == 0;
        };
        if (ends(ext) && !ends(ref) && f.rfind("test_image", 0) != 0)
            names.push_back(dir + "/" + f);
    }
    closedir(d);
    std::sort(names.begin(), names.end());
    return names;
}
}  // namespace

int cmd_cloud(int argc, char** argv) {
    cxxopts::Options opts("nsengine cloud",
                          "Serve models to edge clients: run the suffix of each split inference.");
    add_endpoint_options(opts, "127.0.0.1");
    add_device_options(opts);
    opts.add_options()("models-dir", "folder of <model>.safetensors to serve",
                       cxxopts::value<std::string>()->default_value("models"))(
        "models", "comma-separated models to serve (default: every model in --models-dir)",
        cxxopts::value<std::string>()->default_value(""))(
        "threads", "kernel threads per worker (default: all cores / workers)",
        cxxopts::value<int>())("workers", "requests computed at once",
                               cxxopts::value<int>()->default_value("1"))(
        "max-batch",
        "dynamic batching: run up to this many queued images for the same model and cut as one "
        "batch (1: every request alone)",
        cxxopts::value<int>()->default_value("8"))(
        "max-queue-delay-us",
        "dynamic batching: wait up to this long after a request arrives for others to batch "
        "with it (0: batch only what is already queued, never wait)",
        cxxopts::value<int64_t>()->default_value("0"))(
        "max-clients", "connections served at once; more get ERROR busy",
        cxxopts::value<int>()->default_value("64"))("max-message-mb",
                                                    "largest message accepted, MB",
                                                    cxxopts::value<double>()->default_value("256"))(
        "idle-timeout-s", "close connections idle this long",
        cxxopts::value<double>()->default_value("60"))(
        "io-timeout-s", "time to finish reading or writing a started message",
        cxxopts::value<double>()->default_value("30"))(
        "profile",
        "this machine's device profile, published to edges (default: the cached one, "
        "built on first use)",
        cxxopts::value<std::string>()->default_value(""))("quiet", "no per-request log lines")(
        "h,help", "show this help");
    add_cloud_security_options(opts);
    auto args = parse_args(opts, argc, argv);
    if (print_help(opts, args)) return 0;
    const DeviceOptions device = device_options(args);
    net::ServerOptions so;
    so.host = args["host"].as<std::string>();
    so.port = port_arg(args);
    so.workers = args["workers"].as<int>();
    NSE_CHECK(so.workers >= 1 && so.workers <= 256, ErrorCode::InvalidArgument,
              "--workers must be 1..256");
    so.threads =
        checked_thread_count(args.count("threads") ? args["threads"].as<int>()
                                                   : std::max(1, hardware_threads() / so.workers),
                             "--threads");
    so.max_batch = args["max-batch"].as<int>();
    NSE_CHECK(so.max_batch >= 1 && so.max_batch <= 256, ErrorCode::InvalidArgument,
              "--max-batch must be 1..256");
    const int64_t delay = args["max-queue-delay-us"].as<int64_t>();
    NSE_CHECK(delay >= 0 && delay <= 1000000, ErrorCode::InvalidArgument,
              "--max-queue-delay-us must be 0..1000000 (one second)");
    so.max_queue_delay_us = uint64_t(delay);
    so.max_clients = args["max-clients"].as<int>();
    NSE_CHECK(so.max_clients >= 1 && so.max_clients <= 100000, ErrorCode::InvalidArgument,
              "--max-clients must be 1..100000");
    const double mb = args["max-message-mb"].as<double>();
    NSE_CHECK(mb >= 1 && mb <= 16384, ErrorCode::InvalidArgument,
              "--max-message-mb must be 1..16384");
    so.max_message_bytes = uint64_t(mb * 1024 * 1024);
    so.idle_timeout_s = args["idle-timeout-s"].as<double>();
    so.io_timeout_s = args["io-timeout-s"].as<double>();
    NSE_CHECK(so.idle_timeout_s > 0 && so.io_timeout_s > 0, ErrorCode::InvalidArgument,
              "timeouts must be > 0");
    so.log = args.count("quiet") ? nullptr : &std::cerr;
    apply_cloud_security(args, so);

    const std::string dir = args["models-dir"].as<std::string>();
    std::vector<std::string> files;
    const std::string list = args["models"].as<std::string>();
    if (list.empty()) {
        files = model_files(dir);
    } else {
        std::stringstream ss(list);
        for (std::string name; std::getline(ss, name, ',');) files.push_back(model_path(dir, name));
    }
    NSE_CHECK(!files.empty(), ErrorCode::Io, "no models in ", dir,
              "; convert some with: /usr/bin/python3 tools/convert_torchvision.py --all --out ",
              dir);
    std::vector<net::ServedModel> served;
    for (const auto& f : files) {
        auto model = Model::load(f);
        served.push_back({model, file_content_hash(f)});
        std::cerr << "nsengine cloud: loaded " << model->name() << " (" << model->size()
                  << " nodes, hash " << net::hash_hex(served.back().hash) << ")\n";
    }
    so.device = device;
    // (Each worker has a pool of its own of this size; this one times the deployment phase.)
    const auto deploy_pool = std::make_shared<ThreadPool>(so.threads);
    so.profile =
        existing_profile(args["profile"].as<std::string>(), device, deploy_pool, "nsengine cloud");
    so.ready = so.profile != nullptr;
    net::CloudServer server(so, served);
    server.start();
    server.stop_on_signals();
    if (server.metrics_port())
        std::cerr << "nsengine cloud: health and metrics on http://" << so.metrics_host << ":"
                  << server.metrics_port() << "/healthz, /readyz, /metrics" << std::endl;
    const std::string security =
        so.tls.enabled() ? std::string("TLS") +
                               (so.tls.client_ca_file.empty() ? "" : " with client certificates")
                         : "plaintext";
    const std::string auth =
        so.tokens ? ", " + std::to_string(so.tokens->size()) + " token(s)" : "";
    auto say_serving = [&] {
        std::cerr << "nsengine cloud: serving " << served.size() << " model(s) on " << so.host
                  << ":" << server.port() << ", " << security << auth << ", " << so.workers
                  << " worker(s) x " << so.threads << " thread(s), batches of up to "
                  << so.max_batch << " (queue delay " << so.max_queue_delay_us
                  << " us); Ctrl-C stops" << std::endl;
    };
    if (so.ready) {
        say_serving();
        server.run();
    } else {
        // No profile yet: listen at once and answer not_ready (edges finish locally meanwhile)
        // while the deployment phase builds it, then serve.
        std::cerr << "nsengine cloud: listening on " << so.host << ":" << server.port() << ", "
                  << security << auth
                  << ", answering not_ready until this machine's profile is built" << std::endl;
        std::thread io([&] { server.run(); });
        try {
            auto profile = build_profile(device, deploy_pool, "nsengine cloud", [&](int percent) {
                server.set_progress(percent);
                NSE_CHECK(!server.stopping(), ErrorCode::Internal, "stopped");
            });
            server.set_profile(profile);
            if (!server.stopping()) say_serving();
        } catch (const Error&) {
            const bool stopped = server.stopping();
            server.stop();
            io.join();
            if (stopped) {
                std::cerr << "nsengine cloud: stopped while building the profile\n";
                return 0;
            }
            throw;
        }
        io.join();
    }
    std::cerr << "nsengine cloud: stopped after " << server.requests_served() << " request(s)\n";
    return 0;
}

}  // namespace nse
