// nsengine edge: run a model split between this machine and a cloud server.
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "base/thread_pool.h"
#include "net/edge.h"
#include "partition/planner.h"
#include "tools/cli_util.h"
#include "tools/net_util.h"
#include "weights/safetensors.h"

namespace nse {

namespace {

nlohmann::json report_json(const net::EdgeReport& r) {
    return {
        {"cut", r.cut},
        {"nodes", r.nodes},
        {"where", r.offloaded ? "cloud" : (r.fallback_reason.empty() ? "edge" : "edge-fallback")},
        {"fallback_reason", r.fallback_reason},
        {"edge_ms", r.edge_ms},
        {"prepare_ms", r.prepare_ms},
        {"upload_ms", r.upload_ms},
        {"cloud_queue_ms", r.cloud_queue_ms},
        {"cloud_compute_ms", r.cloud_compute_ms},
        {"network_ms", r.network_ms},
        {"local_suffix_ms", r.local_suffix_ms},
        {"connect_ms", r.connect_ms},
        {"total_ms", r.total_ms},
        {"wire", r.wire},
        {"sent_bytes", r.sent_bytes},
        {"raw_bytes", r.raw_bytes},
        {"encode_ms", r.encode_ms},
        {"cloud_decode_ms", r.cloud_decode_ms},
        {"cloud_backlog_ms", r.cloud_backlog_ms},
        {"cloud_batch", r.cloud_batch},
        {"retried", r.retried},
        {"predicted_ms", r.predicted_ms},
        {"predicted_energy_mj", r.predicted_energy_mj},
        {"predicted_wait_ms", r.predicted_wait_ms},
        {"predicted_prepare_ms", r.predicted_prepare_ms},
        {"prepared_cut", r.prepared_cut},
        {"toll_ms", r.toll_ms},
        {"assumed_upload_mbps", r.assumed_mbps},
        {"assumed_rtt_ms", r.assumed_rtt_ms},
        {"assumed_burst_bytes", r.assumed_burst_bytes},
        {"assumed_burst_available_bytes", r.assumed_burst_available_bytes},
        {"assumed_peak_mbps", r.assumed_peak_mbps},
        {"edge_scale", r.edge_scale},
        {"cloud_scale", r.cloud_scale},
        {"edge_probe_cut", r.edge_probe_cut}};
}

}  // namespace

int cmd_edge(int argc, char** argv) {
    cxxopts::Options opts("nsengine edge",
                          "Run a model split between this edge device and a cloud server.");
    add_model_options(opts);
    add_endpoint_options(opts, "127.0.0.1");
    add_device_options(opts);
    opts.add_options()(
        "split",
        "edge, cloud, auto, a cut k (nodes [0,k) run here) or nodes:HEX (the "
        "nodes that run here, one bit per node, as `nsengine plan --json` prints them)",
        cxxopts::value<std::string>()->default_value("auto"))(
        "cuts",
        "what --split auto chooses among: dag (positions, and the partitions of a branching "
        "network that minimum cuts find) or positions",
        cxxopts::value<std::string>()->default_value("dag"))(
        "repeat", "requests to run", cxxopts::value<int>()->default_value("1"))(
        "interval-ms", "pause between requests", cxxopts::value<double>()->default_value("0"))(
        "input", "ref, random or an image file",
        cxxopts::value<std::string>()->default_value("ref"))(
        "top", "classes to print", cxxopts::value<int>()->default_value("5"))(
        "require-cloud", "fail instead of finishing locally when the cloud fails")(
        "probe-link",
        "with a fixed --split, measure the link at connect as --split auto does (its probes "
        "drain a shaper's burst, so fixed and automatic runs meet the link in the same state)")(
        "objective", "what --split auto minimises: latency or energy (edge energy)",
        cxxopts::value<std::string>()->default_value("latency"))(
        "profile",
        "this device's profile for --split auto (default: the cached one, built on "
        "first use)",
        cxxopts::value<std::string>()->default_value(""))(
        "wire",
        "how the cut's tensors travel: auto (lossless, or a lossy encoding at a cut where "
        "`nsengine calibrate` measured >= 99.5 % top-1 agreement with fp32; chosen with the "
        "cut), exact (lossless only), or one of " +
            net::encoding_names() +
            " (at every cut). A fixed --split sends fp32 unless one is named",
        cxxopts::value<std::string>()->default_value("auto"))(
        "wire-calibration",
        "the model's wire calibration (default: <model>.wire.json beside the model file, when "
        "there is one; nsengine calibrate writes it)",
        cxxopts::value<std::string>()->default_value(""))(
        "timeout-s", "deadline for one cloud request",
        cxxopts::value<double>()->default_value("30"))(
        "connect-timeout-s", "deadline to connect and handshake",
        cxxopts::value<double>()->default_value("2"))("h,help", "show this help");
    add_queue_toll_option(opts);
    add_edge_security_options(opts);
    auto args = parse_args(opts, argc, argv);
    if (print_help(opts, args)) return 0;
    const DeviceOptions device = device_options(args);
    const int repeat = args["repeat"].as<int>();
    NSE_CHECK(repeat >= 1 && repeat <= 1000000, ErrorCode::InvalidArgument,
              "--repeat must be >= 1");
    NSE_CHECK(args["top"].as<int>() >= 1, ErrorCode::InvalidArgument, "--top must be >= 1");
    net::ClientOptions co = client_options(args);
    co.request_timeout_s = args["timeout-s"].as<double>();
    co.connect_timeout_s = args["connect-timeout-s"].as<double>();
    NSE_CHECK(co.request_timeout_s > 0 && co.connect_timeout_s > 0, ErrorCode::InvalidArgument,
              "timeouts must be > 0");
    apply_edge_security(args, co);
    const std::shared_ptr<ThreadPool> pool = thread_pool_arg(args);
    auto model = load_model_arg(args);
    const int n = model->size();
    NodeSet fixed_nodes;
    const int fixed_cut = parse_split(args["split"].as<std::string>(), *model, fixed_nodes);
    const bool dag_cuts = parse_cuts(args["cuts"].as<std::string>());
    const Objective objective = parse_objective(args["objective"].as<std::string>());
    const double queue_toll = queue_toll_arg(args);
    Tensor input = make_input(*model, model_path_arg(args), args["input"].as<std::string>());
    const bool json = args.count("json") > 0;

    const net::WirePolicy wire = net::parse_wire_policy(args["wire"].as<std::string>());
    const uint64_t hash = file_content_hash(model->path());
    std::shared_ptr<const net::WireCalibration> calibration =
        load_wire_calibration(args["wire-calibration"].as<std::string>(), model_path_arg(args),
                              *model, hash, "nsengine edge");
    if (fixed_cut < 0 && !calibration && wire.mode == net::WirePolicy::Mode::Auto && !json)
        std::cerr << "nsengine edge: no wire calibration for " << model->name()
                  << " (nsengine calibrate --model " << model->name()
                  << "): its cut tensors travel as fp32\n";
    net::EdgeRunner edge(model, hash, co, pool, args.count("require-cloud") > 0, device);
    edge.set_probe_on_connect(args.count("probe-link") > 0);
    if (fixed_cut < 0)
        edge.enable_auto(
            profile_for(args["profile"].as<std::string>(), device, pool, "nsengine edge"),
            objective, wire, calibration, dag_cuts);
    edge.set_queue_toll(queue_toll);
    const net::WireEncoding fixed_wire =
        wire.mode == net::WirePolicy::Mode::Forced ? wire.forced : net::WireEncoding{};
    std::vector<net::EdgeReport> reports;
    Tensor last;
    const double interval_ms = args["interval-ms"].as<double>();
    NSE_CHECK(interval_ms >= 0 && interval_ms <= 3.6e6, ErrorCode::InvalidArgument,
              "--interval-ms must be 0..3600000");
    for (int i = 0; i < repeat; ++i) {
        if (i && interval_ms > 0)
            std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(interval_ms));
        net::EdgeReport r;
        const Tensor& out = fixed_cut < 0 ? edge.infer_auto(input, r)
                            : !fixed_nodes.empty()
                                ? edge.infer_nodes(input, fixed_nodes, r, fixed_wire)
                                : edge.infer(input, fixed_cut, r, fixed_wire);
        if (r.retried)
            std::cerr << "nsengine edge: request " << i + 1 << ": " << r.retry_reason
                      << "; sent again on a new connection\n";
        if (!r.fallback_reason.empty())
            std::cerr << "nsengine edge: request " << i + 1 << ": cloud failed ("
                      << r.fallback_reason << "); finished on the edge\n";
        if (i + 1 == repeat) last = out.clone();
        reports.push_back(r);
    }
    auto preds = top_k(*model, last, args["top"].as<int>());
    if (json) {
        nlohmann::json j = {{"model", model->name()},
                            {"host", co.host},
                            {"port", co.port},
                            {"requests", nlohmann::json::array()},
                            {"top", nlohmann::json::array()}};
        int fallbacks = 0;
        for (const auto& r : reports) {
            j["requests"].push_back(report_json(r));
            fallbacks += !r.fallback_reason.empty();
        }
        j["fallbacks"] = fallbacks;
        for (const auto& p : preds)
            j["top"].push_back(
                {{"class", p.index}, {"label", p.label}, {"probability", p.probability}});
        std::cout << j.dump(2) << '\n';
        return 0;
    }
    std::cout << model->name() << " split with " << co.host << ":" << co.port
              << " (cut k: nodes [0,k) on the edge, " << n
              << " nodes; k* : k nodes that are not a position, see --json's nodes)\n\n";
    std::vector<std::vector<std::string>> rows;
    for (size_t i = 0; i < reports.size(); ++i) {
        const auto& r = reports[i];
        const std::string where =
            r.offloaded ? "cloud" : (r.fallback_reason.empty() ? "edge" : "edge (fallback)");
        rows.push_back({std::to_string(i + 1), std::to_string(r.cut) + (r.nodes.empty() ? "" : "*"),
                        where, fixed(r.prepare_ms + r.edge_ms, 2), r.offloaded ? r.wire : "-",
                        human_bytes(double(r.sent_bytes)), fixed(r.upload_ms, 2),
                        fixed(r.cloud_queue_ms + r.cloud_decode_ms + r.cloud_compute_ms, 2),
                        fixed(r.network_ms, 2), fixed(r.local_suffix_ms, 2), fixed(r.connect_ms, 2),
                        fixed(r.total_ms, 2), fixed_cut < 0 ? fixed(r.predicted_ms, 2) : "-",
                        fixed_cut < 0 ? fixed(r.assumed_mbps, 1) : "-"});
    }
    print_table(
        std::cout,
        {"#", "cut", "suffix ran on", "edge ms", "wire", "sent", "upload ms", "cloud ms",
         "network ms", "local ms", "connect ms", "total ms", "predicted", "est Mbit/s"},
        rows,
        {true, true, false, true, false, true, true, true, true, true, true, true, true, true});
    if (fixed_cut < 0 && !reports.empty() &&
        (reports.back().edge_scale != 1 || reports.back().cloud_scale != 1))
        std::cout << "\nlast request: the edge taken to run at "
                  << fixed(reports.back().edge_scale, 2) << "x its profile's times, the cloud at "
                  << fixed(reports.back().cloud_scale, 2) << "x (medians of recent requests)\n";
    std::cout << '\n';
    rows.clear();
    for (size_t i = 0; i < preds.size(); ++i)
        rows.push_back({std::to_string(i + 1), std::to_string(preds[i].index),
                        fixed(100.0 * preds[i].probability, 2) + " %", preds[i].label});
    print_table(std::cout, {"rank", "class", "prob", "label"}, rows, {true, true, true, false});
    return 0;
}

}  // namespace nse
