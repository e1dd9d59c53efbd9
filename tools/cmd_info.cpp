// nsengine info: the model's layer table (shapes, bytes, FLOPs) and every cut with its live set.
#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>

#include "kernels/cpu/cpu_features.h"
#include "tools/cli_util.h"

namespace nse {

namespace {
int print_cpu(bool json) {
    std::vector<std::string> supported;
    for (CpuPath p : supported_cpu_paths()) supported.push_back(cpu_path_name(p));
    const char* env = std::getenv("NSE_CPU");
    const std::string forced = env && *env ? env : "";
    if (json) {
        nlohmann::json j = {{"cpu", cpu_model_name()},
                            {"detected", cpu_path_name(detected_cpu_path())},
                            {"supported", supported},
                            {"path", cpu_path_name(cpu_path())},
                            {"forced_by_env", !forced.empty()}};
        std::cout << j.dump(2) << '\n';
        return 0;
    }
    std::string list;
    for (const auto& s : supported) list += (list.empty() ? "" : ", ") + s;
    std::cout << "cpu        " << cpu_model_name() << "\n"
              << "detected   " << cpu_path_name(detected_cpu_path()) << "\n"
              << "supported  " << list << "\n"
              << "in use     " << cpu_path_name(cpu_path())
              << (forced.empty() ? "" : " (NSE_CPU=" + forced + ")") << "\n";
    return 0;
}
}  // namespace

int cmd_info(int argc, char** argv) {
    cxxopts::Options opts("nsengine info",
                          "Print a model's nodes and the tensors that cross each cut point.");
    add_model_options(opts);
    opts.add_options()("cpu",
                       "print the CPU kernel paths instead: detected, supported here, and the one "
                       "in use (NSE_CPU=avx512|avx2|neon|generic forces one)")("h,help",
                                                                               "show this help");
    auto args = parse_args(opts, argc, argv);
    if (print_help(opts, args)) return 0;
    if (args.count("cpu")) return print_cpu(args.count("json") > 0);
    auto model = load_model_arg(args);
    const Model& m = *model;

    auto live_names = [&](int cut) {
        std::vector<std::string> names;
        for (int id : m.live_at(cut)) names.push_back(m.tensor_name(id));
        return names;
    };
    if (args.count("json")) {
        nlohmann::json nodes = nlohmann::json::array(), cuts = nlohmann::json::array();
        for (int i = 0; i < m.size(); ++i) {
            const NodeInfo& info = m.info(i);
            nodes.push_back({{"index", i},
                             {"name", m.node(i).name},
                             {"op", m.node(i).op},
                             {"attrs", m.node(i).attrs},
                             {"inputs", m.node(i).inputs},
                             {"output_shape", info.out_shape},
                             {"output_bytes", info.out_bytes},
                             {"flops", info.flops},
                             {"param_bytes", info.param_bytes}});
        }
        for (int k = 0; k <= m.size(); ++k)
            cuts.push_back({{"cut", k}, {"live", live_names(k)}, {"live_bytes", m.live_bytes(k)}});
        nlohmann::json j = {{"model", m.name()},
                            {"source", m.metadata_or("nsengine.source", "")},
                            {"weights", m.metadata_or("nsengine.weights", "")},
                            {"input_shape", m.graph().input_shape},
                            {"flops", m.total_flops()},
                            {"param_bytes", m.total_param_bytes()},
                            {"nodes", nodes},
                            {"cuts", cuts}};
        std::cout << j.dump(2) << '\n';
        return 0;
    }
    std::cout << m.name() << ": " << m.metadata_or("nsengine.source", "?") << ", weights "
              << m.metadata_or("nsengine.weights", "?") << "\n"
              << "input " << m.graph().input_name << " " << shape_str(m.graph().input_shape) << ", "
              << m.size() << " nodes, " << fixed(m.total_flops() / 1e6, 1) << " MFLOPs, "
              << human_bytes(double(m.total_param_bytes())) << " of weights\n\n";
    std::vector<std::vector<std::string>> rows;
    for (int i = 0; i < m.size(); ++i) {
        const NodeInfo& info = m.info(i);
        std::string op = m.node(i).op;
        if (m.node(i).attrs.contains("activation"))
            op += "+" + m.node(i).attrs["activation"].get<std::string>();
        rows.push_back({std::to_string(i), m.node(i).name, op, shape_str(info.out_shape),
                        std::to_string(info.out_bytes), fixed(info.flops / 1e6, 2),
                        std::to_string(info.param_bytes)});
    }
    print_table(std::cout,
                {"#", "name", "op", "output shape", "out bytes", "MFLOPs", "param bytes"}, rows,
                {true, false, false, false, true, true, true});
    std::cout << "\ncut k: nodes [0, k) on the edge, [k, " << m.size() << ") on the cloud\n\n";
    rows.clear();
    for (int k = 0; k <= m.size(); ++k) {
        std::string names;
        for (const auto& n : live_names(k)) names += (names.empty() ? "" : ", ") + n;
        rows.push_back({std::to_string(k), k == 0 ? "(input)" : m.node(k - 1).name,
                        std::to_string(m.live_bytes(k)), names});
    }
    print_table(std::cout, {"cut", "after", "live bytes", "live tensors"}, rows,
                {true, false, true, false});
    return 0;
}

}  // namespace nse
