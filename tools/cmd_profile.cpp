// nsengine profile: measured latency and output bytes of every node, live bytes of every cut.
// nsengine predict: the same measurement against a device profile's predictions.
#include <cmath>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "base/thread_pool.h"
#include "engine/executor.h"
#include "lab/deploy.h"
#include "partition/profile.h"
#include "tools/cli_util.h"

namespace nse {

namespace {

struct Measured {
    std::vector<double> node_ms;   // median per node
    std::vector<std::string> how;  // per node where the backend chose (CUDA), else empty
    double whole_ms = 0;           // median whole-model latency (no per-node timing)
};

Measured measure(const std::shared_ptr<const Model>& model, const Tensor& input, int runs,
                 const std::string& label, const DeviceOptions& device,
                 const std::shared_ptr<ThreadPool>& pool) {
    std::unique_ptr<Executor> exec = make_executor(model, device, pool);
    Executor& rt = *exec;
    // Per node, its time in each run: summed over the images where a batch runs image by image
    // (Model::batched_from).
    std::vector<std::vector<double>> per_node(model->size());
    std::vector<double> this_run(model->size(), 0.0);
    const auto observe = [&](int i, double s) { this_run[i] += s * 1e3; };
    const auto node_run = [&] {
        std::fill(this_run.begin(), this_run.end(), 0.0);
        rt.run(input);
        for (int i = 0; i < model->size(); ++i) per_node[i].push_back(this_run[i]);
    };
    rt.set_node_observer(observe);
    // Warm-up: plans memory, and gives the scheduler time to spread a new process's threads over
    // the cores (right after another process, MobileNetV2's first 80 ms of 2-thread runs went at
    // 1-thread speed, its threads sharing a core, and its per-node medians came out 2x the
    // whole runs').
    warm_up([&] { rt.run(input); }, 3);
    Progress progress(label);
    std::vector<double> whole;
    auto whole_run = [&] {
        auto t0 = std::chrono::steady_clock::now();
        rt.run(input);
        whole.push_back(
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                .count());
    };
    if (device.device == Device::Cpu) {
        // Node-timed and whole runs alternate, so a slow spell of the machine falls on both
        // alike (measured one block after the other, one MobileNetV2 whole median came out 10.2
        // ms against per-node medians summing to 6.4).
        for (int r = 0; r < runs; ++r) {
            rt.set_node_observer(observe);
            node_run();
            rt.set_node_observer(nullptr);
            whole_run();
            progress.update(2 * (r + 1), 2 * runs);
        }
    } else {
        for (int r = 0; r < runs; ++r) {
            node_run();
            progress.update(r + 1, 2 * runs);
        }
        rt.set_node_observer(nullptr);
        rt.run(input);  // a GPU captures its graph here
        for (int r = 0; r < runs; ++r) {
            whole_run();
            progress.update(runs + r + 1, 2 * runs);
        }
    }
    Measured m;
    for (auto& v : per_node) m.node_ms.push_back(median(v));
    m.whole_ms = median(whole);
    m.how = rt.node_choices(input.dim(0));
    return m;
}

cxxopts::ParseResult parse_common(cxxopts::Options& opts, int argc, char** argv, bool predict) {
    add_model_options(opts);
    opts.add_options()("runs", "measured runs (medians are reported)",
                       cxxopts::value<int>()->default_value("20"))(
        "csv", "print CSV instead of a table")("h,help", "show this help");
    if (predict)
        opts.add_options()("profile", "device profile JSON (from nsengine deploy)",
                           cxxopts::value<std::string>())(
            "batch", "images per run (the input repeated): predicted and measured for the batch",
            cxxopts::value<int>()->default_value("1"));
    else
        add_device_options(opts);
    return parse_args(opts, argc, argv);
}

}  // namespace

int cmd_profile(int argc, char** argv) {
    cxxopts::Options opts("nsengine profile", "Measure every node's latency and output size.");
    auto args = parse_common(opts, argc, argv, false);
    if (print_help(opts, args)) return 0;
    const DeviceOptions device = device_options(args);
    const int runs = args["runs"].as<int>();
    NSE_CHECK(runs >= 1 && runs <= 100000, ErrorCode::InvalidArgument, "--runs must be >= 1");
    const std::shared_ptr<ThreadPool> pool = thread_pool_arg(args);
    const int threads = pool->size();
    auto model = load_model_arg(args);
    Tensor input = make_input(*model, model_path_arg(args), "random");
    Measured m = measure(model, input, runs, "profile " + model->name(), device, pool);
    const int n = model->size();

    if (args.count("json")) {
        nlohmann::json nodes = nlohmann::json::array(), cuts = nlohmann::json::array();
        for (int i = 0; i < n; ++i) {
            nodes.push_back({{"index", i},
                             {"name", model->node(i).name},
                             {"op", model->node(i).op},
                             {"ms", m.node_ms[i]},
                             {"output_bytes", model->info(i).out_bytes},
                             {"flops", model->info(i).flops}});
            if (!m.how.empty()) nodes.back()["how"] = m.how[i];
        }
        for (int k = 0; k <= n; ++k)
            cuts.push_back({{"cut", k}, {"live_bytes", model->live_bytes(k)}});
        std::cout << nlohmann::json{{"model", model->name()},
                                    {"device", device_name(device.device)},
                                    {"threads", threads},
                                    {"runs", runs},
                                    {"whole_ms", m.whole_ms},
                                    {"nodes", nodes},
                                    {"cuts", cuts}}
                         .dump(2)
                  << '\n';
        return 0;
    }
    if (args.count("csv")) {
        std::cout << "index,name,op,ms,output_bytes,live_bytes_after\n";
        for (int i = 0; i < n; ++i)
            std::cout << i << ',' << model->node(i).name << ',' << model->node(i).op << ','
                      << fixed(m.node_ms[i], 4) << ',' << model->info(i).out_bytes << ','
                      << model->live_bytes(i + 1) << '\n';
        return 0;
    }
    std::vector<std::vector<std::string>> rows;
    double sum = 0;
    for (int i = 0; i < n; ++i) {
        sum += m.node_ms[i];
        rows.push_back({std::to_string(i), model->node(i).name, model->node(i).op,
                        fixed(m.node_ms[i], 3), std::to_string(model->info(i).out_bytes),
                        std::to_string(model->live_bytes(i + 1))});
        if (!m.how.empty()) rows.back().push_back(m.how[i]);
    }
    std::vector<std::string> header{"#", "name", "op", "ms", "out bytes", "live bytes at cut #+1"};
    std::vector<bool> right{true, false, false, true, true, true};
    if (!m.how.empty()) header.push_back("how"), right.push_back(false);
    std::cout << model->name() << " on " << device_name(device.device) << ", " << threads
              << " thread(s), medians of " << runs << " runs\n\n";
    print_table(std::cout, header, rows, right);
    std::cout << "\nsum of nodes " << fixed(sum, 3) << " ms, whole model " << fixed(m.whole_ms, 3)
              << " ms; live bytes at cut 0 (input): " << model->live_bytes(0) << "\n";
    return 0;
}

int cmd_predict(int argc, char** argv) {
    cxxopts::Options opts(
        "nsengine predict",
        "Compare a device profile's predicted latencies with measured ones, and "
        "time the deployment phase's synthetic networks before and after to tell "
        "how much slower (or faster) the machine runs than when it was profiled.");
    auto args = parse_common(opts, argc, argv, true);
    if (print_help(opts, args)) return 0;
    NSE_CHECK(args.count("profile"), ErrorCode::InvalidArgument, "--profile FILE is required");
    const int runs = args["runs"].as<int>();
    NSE_CHECK(runs >= 1 && runs <= 100000, ErrorCode::InvalidArgument, "--runs must be >= 1");
    DeviceProfile profile = DeviceProfile::load(args["profile"].as<std::string>());
    const std::shared_ptr<ThreadPool> pool =
        args.count("threads") ? thread_pool_arg(args)
                              : std::make_shared<ThreadPool>(checked_thread_count(profile.threads));
    const int threads = pool->size();
    if (threads != profile.threads)
        std::cerr << "nsengine predict: warning: profile was fitted with " << profile.threads
                  << " thread(s), measuring with " << threads << "\n";
    const int batch = batch_arg(args);
    auto model = load_model_arg(args);
    const Tensor input = repeat_batch(make_input(*model, model_path_arg(args), "random"), batch);
    const std::vector<double> pred = profile.predict_model(*model, batch);
    DeviceOptions device;  // the profile's device
    device.device = parse_device(profile.device);
    check_device_available(device);
    // The deployment phase's synthetic networks, timed before and after the model: how much
    // slower (or faster) the machine runs now than when the profile was fitted.
    const std::map<std::string, double> before = time_reference_networks(profile, device, pool);
    Measured m = measure(model, input, runs, "predict " + model->name(), device, pool);
    std::map<std::string, double> now = time_reference_networks(profile, device, pool);
    for (auto& [name, ms] : now) ms = std::sqrt(ms * before.at(name));
    const double speed = reference_ratio(profile.reference_ms, now);
    // (Each node's features as it runs: at batch 1 before batched_from, at the batch after.)
    const int split =
        batch > 1 && profile.device == "cpu" ? model->batched_from(0, model->size()) : 0;
    std::vector<NodeFeatures> feats = model_features(*model);
    const std::vector<NodeFeatures> batch_feats = model_features(*model, batch);
    for (int i = split; i < model->size(); ++i) feats[i] = batch_feats[i];

    // The whole-model error and the nodes of >= 0.1 ms within 20 %, of the predictions scaled
    // by `scale`.
    struct Score {
        double whole_err = 0;
        int big = 0, big_ok = 0;
    };
    auto score = [&](double scale) {
        Score s;
        double sum = 0;
        for (int i = 0; i < model->size(); ++i) {
            sum += scale * pred[i];
            if (m.node_ms[i] >= 0.1) {
                ++s.big;
                s.big_ok += std::abs(scale * pred[i] - m.node_ms[i]) <= 0.2 * m.node_ms[i];
            }
        }
        s.whole_err = (sum - m.whole_ms) / m.whole_ms;
        return s;
    };
    double pred_sum = 0;
    for (double ms : pred) pred_sum += ms;
    const Score raw = score(1.0), at_speed = score(speed > 0 ? speed : 1.0);
    const double whole_err = raw.whole_err;
    const int big = raw.big, big_ok = raw.big_ok;
    if (args.count("json")) {
        nlohmann::json nodes = nlohmann::json::array();
        for (int i = 0; i < model->size(); ++i)
            nodes.push_back({{"index", i},
                             {"name", model->node(i).name},
                             {"kind", feats[i].kind},
                             {"predicted_ms", pred[i]},
                             {"measured_ms", m.node_ms[i]},
                             {"features", feats[i].x}});
        nlohmann::json out{{"model", model->name()},
                           {"threads", threads},
                           {"batch", batch},
                           {"batched_from", split},
                           {"predicted_ms", pred_sum},
                           {"measured_ms", m.whole_ms},
                           {"whole_rel_error", whole_err},
                           {"nodes_over_0.1ms", big},
                           {"nodes_within_20pct", big_ok},
                           {"nodes", nodes}};
        if (speed > 0)
            out["machine_now"] = {{"reference_ratio", speed},
                                  {"whole_rel_error", at_speed.whole_err},
                                  {"nodes_within_20pct", at_speed.big_ok}};
        std::cout << out.dump(2) << '\n';
        return 0;
    }
    if (args.count("csv")) {
        std::cout << "index,name,kind,predicted_ms,measured_ms\n";
        for (int i = 0; i < model->size(); ++i)
            std::cout << i << ',' << model->node(i).name << ',' << feats[i].kind << ','
                      << fixed(pred[i], 4) << ',' << fixed(m.node_ms[i], 4) << '\n';
        return 0;
    }
    std::vector<std::vector<std::string>> rows;
    for (int i = 0; i < model->size(); ++i) {
        const double err = (pred[i] - m.node_ms[i]) / m.node_ms[i];
        rows.push_back({std::to_string(i), model->node(i).name, feats[i].kind, fixed(pred[i], 3),
                        fixed(m.node_ms[i], 3),
                        (err >= 0 ? "+" : "") + fixed(100 * err, 1) + " %"});
    }
    std::cout << model->name() << ", profile " << args["profile"].as<std::string>() << " ("
              << profile.threads << " thread(s)), "
              << (batch > 1 ? "batch " + std::to_string(batch) + " (one batch from node " +
                                  std::to_string(split) + ", image by image before), "
                            : "")
              << "medians of " << runs << " runs\n\n";
    print_table(std::cout, {"#", "name", "kind", "predicted ms", "measured ms", "error"}, rows,
                {true, false, false, true, true, true});
    std::cout << "\nwhole model: predicted " << fixed(pred_sum, 3) << " ms, measured "
              << fixed(m.whole_ms, 3) << " ms, error " << (whole_err >= 0 ? "+" : "")
              << fixed(100 * whole_err, 1) << " %\nnodes >= 0.1 ms within +-20 %: " << big_ok << "/"
              << big << " (" << fixed(big ? 100.0 * big_ok / big : 100.0, 0) << " %)\n";
    if (speed > 0)
        std::cout << "\nthe machine now: the deployment phase's synthetic networks took "
                  << fixed(speed, 3) << "x their times at deploy (timed before and after);"
                  << "\nthe predictions times that: whole-model error "
                  << (at_speed.whole_err >= 0 ? "+" : "") << fixed(100 * at_speed.whole_err, 1)
                  << " %, nodes >= 0.1 ms within +-20 %: " << at_speed.big_ok << "/" << big << "\n";
    return 0;
}

}  // namespace nse
