// nsengine deploy: fit this device's profile from micro-benchmarks (the deployment phase).
#include <fstream>
#include <iostream>

#include "base/thread_pool.h"
#include "lab/deploy.h"
#include "net/wire_choice.h"
#include "tools/cli_util.h"

namespace nse {

int cmd_deploy(int argc, char** argv) {
    cxxopts::Options opts("nsengine deploy",
                          "Micro-benchmark every kernel kind on synthetic layers and fit this "
                          "device's latency model (takes about 2 minutes on 2 cores).");
    opts.add_options()("threads", "threads to profile with (default: all cores)",
                       cxxopts::value<int>())(
        "out", "profile file to write (default: the cache the edge and cloud read)",
        cxxopts::value<std::string>())(
        "quick",
        "a tenth of the configurations (less accurate; too few small layers for the hot fits that "
        "price LeNet-sized networks)")("seed", "seed of the configuration sweep",
                                       cxxopts::value<uint32_t>()->default_value("1"))(
        "samples", "also write every measured configuration to this CSV file",
        cxxopts::value<std::string>())("json", "print the profile")("h,help", "show this help");
    add_device_options(opts);
    auto args = parse_args(opts, argc, argv);
    if (print_help(opts, args)) return 0;
    const DeviceOptions device = device_options(args);
    const std::shared_ptr<ThreadPool> pool = thread_pool_arg(args);
    const int threads = pool->size();
    const std::string out = args.count("out")
                                ? args["out"].as<std::string>()
                                : cached_profile_path(device_name(device.device), threads);
    DeployOptions o;
    o.device = device;
    o.pool = pool;
    o.quick = args.count("quick") > 0;
    o.seed = args["seed"].as<uint32_t>();
    const auto t0 = std::chrono::steady_clock::now();
    DeviceProfile p;
    std::vector<DeploySample> samples;
    {
        Progress progress("deploy");
        p = deploy_profile(
            o,
            [&](const std::string& stage, int done, int total) {
                progress.update(stage, done, total);
            },
            &samples);
    }
    p.wire = net::measure_wire_costs();
    p.save(out);
    if (args.count("samples")) {
        std::ofstream csv(args["samples"].as<std::string>());
        NSE_CHECK(csv.good(), ErrorCode::Io, args["samples"].as<std::string>(), ": cannot write");
        // "network" rows: measured_ms is the whole run, in_network_ms the sum of its layers'
        // times inside it, layers_alone_ms their sum as single-layer networks; "network_layer"
        // rows: measured alone, and inside the network; "hot:<kind>" rows: the small layers
        // timed run after run (no scrub).
        csv << "kind,config,measured_ms,predicted_ms,in_network_ms,layers_alone_ms,features\n";
        for (const auto& s : samples) {
            csv << s.kind << ",\"" << s.config << "\"," << s.ms << ',' << s.predicted_ms << ',';
            if (s.kind == "network" || s.kind == "network_layer") csv << s.in_network_ms;
            csv << ',';
            if (s.kind == "network") csv << s.alone_ms;
            csv << ",\"";
            for (size_t i = 0; i < s.features.x.size(); ++i)
                csv << (i ? " " : "") << s.features.x[i];
            csv << "\"\n";
        }
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (args.count("json")) {
        std::cout << p.to_json().dump(2) << '\n';
        return 0;
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& [kind, fit] : p.kinds)
        rows.push_back(
            {kind, std::to_string(fit.samples), fixed(100 * fit.linear_rel_error, 1) + " %",
             fit.correction.empty() ? "no" : "yes", fixed(100 * fit.median_rel_error, 1) + " %"});
    print_table(
        std::cout,
        {"kind", "samples", "linear fit error", "neighbour correction", "error as used (left out)"},
        rows, {false, true, true, false, true});
    std::cout << "\nnetwork factors (synthetic networks run whole over their layers run alone; "
                 "scale the predictions of a model by its weight size):";
    for (const auto& [mb, f] : p.network_factors)
        std::cout << ' ' << fixed(f, 3) << " at " << fixed(mb, 2) << " MB";
    if (p.memory.known())
        std::cout << "\nweights read from cache at " << fixed(p.memory.cache_gbps, 1)
                  << " GB/s, from memory at " << fixed(p.memory.memory_gbps, 1)
                  << " GB/s; the cache keeps about " << fixed(p.memory.cache_mb, 0)
                  << " MB between inferences (a plain read; a network's weights as "
                  << fixed(p.memory.pressure, 2) << "x as many)";
    if (p.hot_network_factor > 0)
        std::cout << "\na network within " << fixed(kHotNetworkMb, 0)
                  << " MB (weights and one layer's data) stays in a core's caches: "
                  << p.hot_kinds.size()
                  << " kinds fitted on layers timed run after run, the tiny networks' layers "
                  << fixed(p.hot_network_factor, 3) << "x those times, plus "
                  << fixed(p.hot_handoff_ms_per_mb * 1e3, 0)
                  << " us per MB a layer reads from another core";
    if (p.node_overhead_ms > 0)
        std::cout << "\na node measured alone pays " << fixed(p.node_overhead_ms * 1e3, 2)
                  << " us more than among others (taken off every prediction)";
    std::cout << "\nprofile for " << device_name(device.device) << ", " << threads
              << " thread(s), written to " << out << " (" << fixed(s, 1) << " s)\n";
    return 0;
}

}  // namespace nse
