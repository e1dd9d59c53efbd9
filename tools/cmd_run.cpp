// nsengine run: classify one input on this machine and print the top classes and latency.
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>

#include "engine/executor.h"
#include "tools/cli_util.h"

namespace nse {

int cmd_run(int argc, char** argv) {
    cxxopts::Options opts("nsengine run",
                          "Classify one input with the whole model on this machine.");
    add_model_options(opts);
    add_device_options(opts);
    opts.add_options()("input", "ref (reference input beside the model), random, or an image file",
                       cxxopts::value<std::string>()->default_value("ref"))(
        "top", "number of classes to print", cxxopts::value<int>()->default_value("5"))(
        "h,help", "show this help");
    auto args = parse_args(opts, argc, argv);
    if (print_help(opts, args)) return 0;
    NSE_CHECK(args["top"].as<int>() >= 1, ErrorCode::InvalidArgument, "--top must be >= 1");
    const std::shared_ptr<ThreadPool> pool = thread_pool_arg(args);
    const int threads = pool->size();
    const DeviceOptions device = device_options(args);
    auto model = load_model_arg(args);
    const std::string input_spec = args["input"].as<std::string>();
    Tensor input = make_input(*model, model_path_arg(args), input_spec);

    std::unique_ptr<Executor> rt = make_executor(model, device, pool);
    using clock = std::chrono::steady_clock;
    auto t0 = clock::now();
    rt->run(input);  // first run plans memory (on a GPU: chooses algorithms, captures a graph)
    auto t1 = clock::now();
    const Tensor& out = rt->run(input);
    auto t2 = clock::now();
    const double cold_ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
    const double warm_ms = std::chrono::duration<double, std::milli>(t2 - t1).count();
    auto preds = top_k(*model, out, args["top"].as<int>());

    if (args.count("json")) {
        nlohmann::json j = {
            {"model", model->name()},  {"weights", model->metadata_or("nsengine.weights", "?")},
            {"input", input_spec},     {"device", rt->description()},
            {"threads", threads},      {"latency_ms", warm_ms},
            {"first_run_ms", cold_ms}, {"top", nlohmann::json::array()}};
        for (const auto& p : preds)
            j["top"].push_back(
                {{"class", p.index}, {"label", p.label}, {"probability", p.probability}});
        std::cout << j.dump(2) << '\n';
        return 0;
    }
    std::cout << model->name() << " (" << model->metadata_or("nsengine.weights", "?")
              << " weights), input " << input_spec << ", on " << rt->description() << ", "
              << threads << " CPU thread(s)\n\n";
    const std::string weights = model->metadata_or("nsengine.weights", "?");
    if (weights.rfind("random", 0) == 0)
        std::cout << "(" << weights
                  << " weights: the labels mean nothing, though the answer follows the input; "
                     "convert with --weights imagenet or --state-dict for real ones)\n\n";
    std::vector<std::vector<std::string>> rows;
    for (size_t i = 0; i < preds.size(); ++i)
        rows.push_back({std::to_string(i + 1), std::to_string(preds[i].index),
                        fixed(100.0 * preds[i].probability, 2) + " %", preds[i].label});
    print_table(std::cout, {"rank", "class", "prob", "label"}, rows, {true, true, true, false});
    std::cout << "\nlatency: " << fixed(warm_ms, 3)
              << " ms (first run, which plans memory: " << fixed(cold_ms, 3) << " ms)\n";
    return 0;
}

}  // namespace nse
