// nsengine bench: whole-model latency (and with --batch N, images per second) over repeated
// runs. --stdin runs once per line read and
// prints that run's milliseconds, so tools/bench_peers.py can interleave engines run by run.
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "engine/executor.h"
#include "tools/cli_util.h"

namespace nse {

int cmd_bench(int argc, char** argv) {
    cxxopts::Options opts("nsengine bench",
                          "Measure whole-model latency on this machine, host to host (on cuda: "
                          "input from pinned memory to the GPU and the output back included).");
    add_model_options(opts);
    add_device_options(opts);
    opts.add_options()("runs", "timed runs", cxxopts::value<int>()->default_value("20"))(
        "batch", "images per run (the input repeated); reports images/s too",
        cxxopts::value<int>()->default_value("1"))(
        "warmup",
        "untimed runs first (and as many more as fill 250 ms: a new process's threads may "
        "share a core until the scheduler spreads them)",
        cxxopts::value<int>()->default_value("3"))(
        "input", "ref, random or an image file",
        cxxopts::value<std::string>()->default_value("random"))(
        "stdin", "run once per line read from stdin and print its latency in ms (for scripts)")(
        "h,help", "show this help");
    auto args = parse_args(opts, argc, argv);
    if (print_help(opts, args)) return 0;
    const int runs = args["runs"].as<int>(), warmup = args["warmup"].as<int>();
    NSE_CHECK(runs >= 1 && runs <= 1000000 && warmup >= 0 && warmup <= 1000000,
              ErrorCode::InvalidArgument, "--runs must be >= 1 and --warmup >= 0");
    const int batch = batch_arg(args);
    const std::shared_ptr<ThreadPool> pool = thread_pool_arg(args);
    const int threads = pool->size();
    const DeviceOptions device = device_options(args);
    auto model = load_model_arg(args);
    Tensor input = repeat_batch(
        make_input(*model, model_path_arg(args), args["input"].as<std::string>()), batch);
    std::unique_ptr<Executor> rt = make_executor(model, device, pool);
    // On a GPU the input waits in pinned host memory, as a server's receive buffer would hold it;
    // each run still copies it to the device and the output back.
    std::vector<Tensor> staging = rt->input_buffers(0, model->size(), input.dim(0));
    if (!staging.empty()) {
        std::memcpy(staging[0].data(), input.data(), input.bytes());
        input = staging[0];
    }
    using clock = std::chrono::steady_clock;
    auto timed = [&] {
        auto t0 = clock::now();
        rt->run(input);
        return std::chrono::duration<double, std::milli>(clock::now() - t0).count();
    };
    warm_up(timed, warmup);

    if (args.count("stdin")) {
        std::cout << "ready" << std::endl;
        std::string line;
        while (std::getline(std::cin, line)) std::cout << fixed(timed(), 4) << std::endl;
        return 0;
    }
    // Progress on stderr, only for a person watching a terminal.
    const bool progress = isatty(STDERR_FILENO) && runs >= 10;
    std::vector<double> ms;
    for (int i = 0; i < runs; ++i) {
        ms.push_back(timed());
        if (progress && (i + 1) % std::max(1, runs / 10) == 0)
            std::cerr << "\rbench: " << (i + 1) << "/" << runs << " runs" << std::flush;
    }
    if (progress) std::cerr << "\r\033[K";
    double mn = ms[0], sum = 0;
    for (double v : ms) mn = std::min(mn, v), sum += v;
    const double med = median(ms);
    const double gflops = model->total_flops() * batch / med / 1e6;
    const double images_per_s = batch * 1e3 / med;
    if (args.count("json")) {
        nlohmann::json j = {{"model", model->name()}, {"device", rt->description()},
                            {"threads", threads},     {"batch", batch},
                            {"runs", runs},           {"median_ms", med},
                            {"min_ms", mn},           {"mean_ms", sum / runs},
                            {"gflops", gflops},       {"images_per_s", images_per_s},
                            {"runs_ms", ms}};
        std::cout << j.dump(2) << '\n';
        return 0;
    }
    std::cout << model->name() << " on " << rt->description() << ", " << threads << " thread(s), "
              << (batch > 1 ? "batch " + std::to_string(batch) + ", " : "") << runs
              << " runs: median " << fixed(med, 3) << " ms, min " << fixed(mn, 3) << " ms, mean "
              << fixed(sum / runs, 3) << " ms (" << fixed(gflops, 1) << " GFLOP/s, "
              << fixed(images_per_s, 1) << " images/s at the median)\n";
    return 0;
}

}  // namespace nse
