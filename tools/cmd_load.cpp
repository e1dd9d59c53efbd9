// nsengine load: many edges at once against a cloud (or a tier behind a load balancer), bounded
// in count and time. Every answer is checked against the same input run locally, so a wrong
// result, a lost request, a retry and a fallback are each counted, not assumed.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "base/thread_pool.h"
#include "net/edge.h"
#include "tools/cli_util.h"
#include "tools/cpu_quota.h"
#include "tools/net_util.h"
#include "weights/safetensors.h"

namespace nse {

namespace {

using Clock = std::chrono::steady_clock;

struct Outcome {
    net::EdgeReport report;
    bool correct = false;  // the answer equals the local run's, bit for bit
    double start_ms = 0;   // since the load's clock started
    bool fallback() const { return !report.fallback_reason.empty(); }
};

double percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, size_t(p / 100.0 * double(v.size())))];
}

void write_requests_csv(std::ofstream& f, const std::string& path,
                        const std::vector<std::vector<Outcome>>& outcomes) {
    f << "edge,request,start_ms,total_ms,where,cut,cloud_batch,cloud_queue_ms,cloud_backlog_ms,"
         "predicted_ms,predicted_wait_ms,toll_ms,edge_scale,cloud_scale\n";
    for (size_t e = 0; e < outcomes.size(); ++e)
        for (size_t i = 0; i < outcomes[e].size(); ++i) {
            const Outcome& o = outcomes[e][i];
            const net::EdgeReport& r = o.report;
            f << e << ',' << i << ',' << o.start_ms << ',' << r.total_ms << ','
              << (r.offloaded    ? "cloud"
                  : o.fallback() ? "edge-fallback"
                                 : "edge")
              << ',' << r.cut << ',' << (r.offloaded ? r.cloud_batch : 0) << ',' << r.cloud_queue_ms
              << ',' << r.cloud_backlog_ms << ',' << r.predicted_ms << ',' << r.predicted_wait_ms
              << ',' << r.toll_ms << ',' << r.edge_scale << ',' << r.cloud_scale << '\n';
        }
    NSE_CHECK(f.flush(), ErrorCode::Io, "cannot write ", path);
}

}  // namespace

int cmd_load(int argc, char** argv) {
    cxxopts::Options opts(
        "nsengine load",
        "Run many edges at once against a cloud (or a cloud tier behind a load balancer), each "
        "on its own connection and kernel threads, and check every answer against the local "
        "run: answered by the cloud, retried, finished on the edge, wrong, lost; latency "
        "percentiles, throughput and the cloud's batch sizes. Every edge connects first; the "
        "clock starts when all have.");
    add_model_options(opts, true, false);  // each edge's threads: --threads-per-edge
    add_endpoint_options(opts, "127.0.0.1");
    opts.add_options()("edges", "edges running at once",
                       cxxopts::value<int>()->default_value("16"))(
        "requests", "requests per edge", cxxopts::value<int>()->default_value("10"))(
        "split", "edge, cloud, auto or a cut k (as nsengine edge --split)",
        cxxopts::value<std::string>()->default_value("auto"))(
        "threads-per-edge", "kernel threads of each edge",
        cxxopts::value<int>()->default_value("1"))("interval-ms",
                                                   "pause between an edge's requests",
                                                   cxxopts::value<double>()->default_value("0"))(
        "max-seconds", "stop starting requests after this long (the run stays bounded)",
        cxxopts::value<double>()->default_value("600"))(
        "timeout-s", "deadline for one cloud request",
        cxxopts::value<double>()->default_value("30"))(
        "profile", "this device's profile for --split auto (default: the cached one)",
        cxxopts::value<std::string>()->default_value(""))(
        "csv",
        "also write one line per request to this file (when it started, where it ran, the "
        "cut, the cloud's batch and backlog, what the planner predicted)",
        cxxopts::value<std::string>()->default_value(""))(
        "edge-cpu",
        "limit each edge's thread to this fraction of a CPU (0.01..1; 0: no limit), as a device "
        "of its own that slow: a cgroup per edge (Linux cgroup v1 cpu controller, root)",
        cxxopts::value<double>()->default_value("0"))("h,help", "show this help");
    add_queue_toll_option(opts);
    add_edge_security_options(opts);
    auto args = parse_args(opts, argc, argv);
    if (print_help(opts, args)) return 0;
    const int edges = args["edges"].as<int>(), requests = args["requests"].as<int>();
    NSE_CHECK(edges >= 1 && edges <= 1024, ErrorCode::InvalidArgument, "--edges must be 1..1024");
    NSE_CHECK(requests >= 1 && requests <= 100000, ErrorCode::InvalidArgument,
              "--requests must be 1..100000");
    const int threads =
        checked_thread_count(args["threads-per-edge"].as<int>(), "--threads-per-edge");
    const double interval_ms = args["interval-ms"].as<double>();
    const double max_s = args["max-seconds"].as<double>();
    NSE_CHECK(interval_ms >= 0 && interval_ms <= 3.6e6 && max_s > 0 && max_s <= 86400,
              ErrorCode::InvalidArgument,
              "--interval-ms must be 0..3600000 and --max-seconds 0..86400");
    const double queue_toll = queue_toll_arg(args);
    const std::string csv_path = args["csv"].as<std::string>();
    std::ofstream csv;  // opened now: a path that cannot be written stops the run before it starts
    if (!csv_path.empty()) {
        csv.open(csv_path);
        NSE_CHECK(csv, ErrorCode::Io, "--csv: cannot write ", csv_path);
    }
    const double edge_cpu = args["edge-cpu"].as<double>();
    NSE_CHECK(edge_cpu == 0 || (edge_cpu >= ThreadCpuQuota::kMinFraction && edge_cpu <= 1),
              ErrorCode::InvalidArgument, "--edge-cpu must be 0 (no limit) or 0.01..1");
    NSE_CHECK(edge_cpu == 0 || threads == 1, ErrorCode::InvalidArgument,
              "--edge-cpu limits each edge's one thread: use --threads-per-edge 1");
    net::ClientOptions co = client_options(args);
    co.request_timeout_s = args["timeout-s"].as<double>();
    NSE_CHECK(co.request_timeout_s > 0, ErrorCode::InvalidArgument, "--timeout-s must be > 0");
    apply_edge_security(args, co);
    auto model = load_model_arg(args);
    NodeSet nodes;
    const int cut = parse_split(args["split"].as<std::string>(), *model, nodes);
    NSE_CHECK(nodes.empty(), ErrorCode::InvalidArgument,
              "--split nodes:HEX is not supported by load (use a cut or auto)");
    const uint64_t hash = file_content_hash(model->path());
    const bool json = args.count("json") > 0;
    const bool progress = isatty(STDERR_FILENO) && !json;
    std::shared_ptr<const DeviceProfile> profile;
    if (cut < 0)
        profile = profile_for(args["profile"].as<std::string>(), DeviceOptions{},
                              std::make_shared<ThreadPool>(threads), "nsengine load");

    // What each edge must get back: its input run here, whole.
    std::vector<Tensor> inputs, want;
    {
        auto pool = std::make_shared<ThreadPool>(hardware_threads());
        auto rt = make_executor(model, DeviceOptions{}, pool);
        for (int e = 0; e < edges; ++e) {
            // Each edge's own: a reply that went to the wrong edge would not pass the check.
            inputs.push_back(random_input(*model, uint32_t(e + 2)));
            want.push_back(rt->run(inputs.back()).clone());
        }
    }
    // A cgroup per edge (made here, where a machine without the controller stops the command
    // with one line; each edge's thread enters its own).
    std::vector<std::unique_ptr<ThreadCpuQuota>> quotas;
    if (edge_cpu > 0)
        for (int e = 0; e < edges; ++e)
            quotas.push_back(std::make_unique<ThreadCpuQuota>(
                "nsengine-load-" + std::to_string(getpid()) + "-" + std::to_string(e), edge_cpu));
    std::vector<std::vector<Outcome>> outcomes(static_cast<size_t>(edges));
    std::atomic<int> done{0}, lost{0}, finished{0};
    std::mutex error_mu;
    std::map<std::string, int> errors;  // what made requests fail outright
    // Every edge connects first (HELLO, the cloud's profile, its planner, its plans: a cost paid
    // once, which under --edge-cpu takes seconds); the requests, and the clock, start when all
    // have.
    const auto setup_t0 = Clock::now();
    std::mutex gate_mu;
    std::condition_variable gate_cv;
    int at_gate = 0;
    bool open = false;
    const auto wait_at_gate = [&] {
        std::unique_lock<std::mutex> lock(gate_mu);
        ++at_gate;
        gate_cv.notify_all();
        gate_cv.wait(lock, [&] { return open; });
    };
    Clock::time_point t0, stop_at;
    std::vector<std::thread> workers;
    for (int e = 0; e < edges; ++e)
        workers.emplace_back([&, e] {
            if (!quotas.empty()) {
                try {
                    quotas[size_t(e)]->enter();
                } catch (const std::exception& ex) {
                    std::lock_guard<std::mutex> lock(error_mu);
                    ++errors[ex.what()];
                    ++finished;
                    wait_at_gate();
                    return;  // (its requests count as not started)
                }
            }
            auto pool = std::make_shared<ThreadPool>(threads);
            net::EdgeRunner edge(model, hash, co, pool);
            // Lossless wire only: every answer must equal the local run bit for bit.
            net::WirePolicy lossless;
            lossless.mode = net::WirePolicy::Mode::Exact;
            if (cut < 0) {
                edge.enable_auto(profile, Objective::Latency, lossless);
                edge.set_queue_toll(queue_toll);
            }
            try {
                edge.connect();
            } catch (const std::exception&) {
                // (an unreachable cloud: its requests fall back, counted there)
            }
            wait_at_gate();
            for (int i = 0; i < requests && Clock::now() < stop_at; ++i) {
                if (i && interval_ms > 0)
                    std::this_thread::sleep_for(
                        std::chrono::duration<double, std::milli>(interval_ms));
                net::EdgeReport r;
                const auto started = Clock::now();
                try {
                    const Tensor& y = cut < 0 ? edge.infer_auto(inputs[size_t(e)], r)
                                              : edge.infer(inputs[size_t(e)], cut, r);
                    const Tensor& w = want[size_t(e)];
                    Outcome o;
                    o.report = r;
                    o.correct =
                        y.shape() == w.shape() && std::memcmp(y.data(), w.data(), w.bytes()) == 0;
                    o.start_ms = std::chrono::duration<double, std::milli>(started - t0).count();
                    outcomes[size_t(e)].push_back(o);
                } catch (const std::exception& ex) {
                    ++lost;
                    std::lock_guard<std::mutex> lock(error_mu);
                    ++errors[ex.what()];
                }
                ++done;
            }
            ++finished;
        });
    {
        std::unique_lock<std::mutex> lock(gate_mu);
        gate_cv.wait(lock, [&] { return at_gate == edges; });
        t0 = Clock::now();
        stop_at =
            t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(max_s));
        open = true;
    }
    gate_cv.notify_all();
    const double setup_s = std::chrono::duration<double>(t0 - setup_t0).count();
    if (progress) {
        const int total = edges * requests;
        while (finished.load() < edges) {
            std::this_thread::sleep_for(std::chrono::milliseconds(250));
            std::cerr << "\rload: " << done.load() << "/" << total << " requests" << std::flush;
        }
    }
    for (auto& t : workers) t.join();
    if (progress) std::cerr << "\r\033[K";
    const double wall_s = std::chrono::duration<double>(Clock::now() - t0).count();

    int answered = 0, cloud = 0, retried = 0, fallbacks = 0, wrong = 0, by_choice = 0;
    std::vector<double> latency, edge_medians;
    std::map<uint32_t, int> batches;
    for (const auto& per_edge : outcomes) {
        std::vector<double> mine;
        for (const Outcome& o : per_edge) {
            ++answered;
            const net::EdgeReport& r = o.report;
            cloud += r.offloaded;
            retried += r.retried;
            fallbacks += o.fallback();
            by_choice += !r.offloaded && !o.fallback();
            wrong += !o.correct;
            latency.push_back(r.total_ms);
            mine.push_back(r.total_ms);
            if (r.offloaded) ++batches[r.cloud_batch];
        }
        if (!mine.empty()) edge_medians.push_back(median(mine));
    }
    double batch_sum = 0;
    for (const auto& [b, count] : batches) batch_sum += double(b) * count;
    if (csv.is_open()) write_requests_csv(csv, csv_path, outcomes);
    const int planned = edges * requests;
    const int not_started = planned - answered - lost.load();
    if (json) {
        nlohmann::json j = {{"model", model->name()},
                            {"host", co.host},
                            {"port", co.port},
                            {"edges", edges},
                            {"requests_per_edge", requests},
                            {"split", args["split"].as<std::string>()},
                            {"threads_per_edge", threads},
                            {"edge_cpu", edge_cpu},
                            {"queue_toll", queue_toll},
                            {"setup_s", setup_s},
                            {"planned", planned},
                            {"answered", answered},
                            {"cloud", cloud},
                            {"edge_by_choice", by_choice},
                            {"fallbacks", fallbacks},
                            {"retried", retried},
                            {"wrong", wrong},
                            {"lost", lost.load()},
                            {"not_started", not_started},
                            {"wall_s", wall_s},
                            {"requests_per_s", answered / wall_s},
                            {"cloud_requests_per_s", cloud / wall_s},
                            {"p50_ms", percentile(latency, 50)},
                            {"p90_ms", percentile(latency, 90)},
                            {"p99_ms", percentile(latency, 99)},
                            {"edge_median_ms_min", percentile(edge_medians, 0)},
                            {"edge_median_ms_max", percentile(edge_medians, 100)},
                            {"mean_cloud_batch", cloud ? batch_sum / cloud : 0.0},
                            {"cloud_batches", nlohmann::json::object()},
                            {"errors", errors}};
        for (const auto& [b, count] : batches) j["cloud_batches"][std::to_string(b)] = count;
        std::cout << j.dump(2) << '\n';
    } else {
        std::cout << "load: " << edges << " edges x " << requests << " requests of "
                  << model->name() << " (split " << args["split"].as<std::string>() << ", "
                  << threads << " thread(s) each) against " << co.host << ":" << co.port << "\n\n";
        print_table(std::cout, {"", "requests"},
                    {{"answered", std::to_string(answered)},
                     {"  by the cloud", std::to_string(cloud)},
                     {"  on the edge by choice", std::to_string(by_choice)},
                     {"  on the edge after the cloud failed", std::to_string(fallbacks)},
                     {"retried on a new connection", std::to_string(retried)},
                     {"wrong (not the local answer)", std::to_string(wrong)},
                     {"lost (no answer)", std::to_string(lost.load())},
                     {"not started (--max-seconds)", std::to_string(not_started)}},
                    {false, true});
        std::cout << "\nconnect " << fixed(setup_s, 2) << " s (every edge, before the clock), wall "
                  << fixed(wall_s, 2) << " s: " << fixed(answered / wall_s, 1) << " requests/s ("
                  << fixed(cloud / wall_s, 1) << "/s by the cloud)\n"
                  << "latency p50 " << fixed(percentile(latency, 50), 1) << " ms, p90 "
                  << fixed(percentile(latency, 90), 1) << " ms, p99 "
                  << fixed(percentile(latency, 99), 1) << " ms; edges' medians "
                  << fixed(percentile(edge_medians, 0), 1) << ".."
                  << fixed(percentile(edge_medians, 100), 1) << " ms\n";
        if (cloud) {
            std::cout << "cloud batches: mean " << fixed(batch_sum / cloud, 2) << " (";
            bool first = true;
            for (const auto& [b, count] : batches) {
                std::cout << (first ? "" : ", ") << "batch " << b << ": " << count;
                first = false;
            }
            std::cout << ")\n";
        }
        for (const auto& [what, count] : errors)
            std::cout << "error x" << count << ": " << what << "\n";
    }
    return wrong || lost.load() ? 1 : 0;
}

}  // namespace nse
