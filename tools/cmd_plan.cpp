// nsengine plan: the planner's view for given profiles and bandwidths: the chosen cut and every
// cut's predicted breakdown; --svg draws them as stacked bars.
#include <cmath>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "net/wire_choice.h"
#include "partition/planner.h"
#include "tools/cli_util.h"
#include "weights/safetensors.h"

namespace nse {

namespace {

nlohmann::json estimate_json(const CutEstimate& e) {
    return {{"cut", e.cut},
            {"live_bytes", e.live_bytes},
            {"wire", e.wire},
            {"wire_bytes", e.wire_bytes},
            {"edge_ms", e.edge_ms},
            {"encode_ms", e.encode_ms},
            {"upload_ms", e.upload_ms},
            {"rtt_ms", e.rtt_ms},
            {"decode_ms", e.decode_ms},
            {"cloud_ms", e.cloud_wait_ms + e.cloud_ms},
            {"download_ms", e.download_ms},
            {"total_ms", e.total_ms},
            {"toll_ms", e.toll_ms},
            {"energy_mj", e.energy_mj}};
}

std::vector<double> parse_list(const std::string& s, const char* what) {
    std::vector<double> out;
    std::stringstream ss(s);
    for (std::string item; std::getline(ss, item, ',');) {
        char* end = nullptr;
        const double v = std::strtod(item.c_str(), &end);
        NSE_CHECK(!item.empty() && *end == '\0' && v > 0 && v < 1e9, ErrorCode::InvalidArgument,
                  what, " must be a comma-separated list of positive numbers, got '", s, "'");
        out.push_back(v);
    }
    NSE_CHECK(!out.empty(), ErrorCode::InvalidArgument, what, " is empty");
    return out;
}

// One panel per bandwidth: a stacked bar per cut (edge, upload, cloud incl. wait, download +
// RTT), the chosen cut outlined.
void write_svg(const std::string& path, const Model& model, const std::vector<double>& mbps,
               const std::vector<std::vector<CutEstimate>>& est, const std::vector<int>& chosen,
               const std::vector<CutEstimate>& best, Objective objective) {
    const int n = model.size(), panel_h = 220, left = 60, bar_w = std::max(4, 720 / (n + 1));
    const int width = left + bar_w * (n + 1) + 180, height = panel_h * int(mbps.size()) + 40;
    std::ofstream svg(path);
    NSE_CHECK(svg.good(), ErrorCode::Io, path, ": cannot write");
    svg << "<svg xmlns='http://www.w3.org/2000/svg' width='" << width << "' height='" << height
        << "' font-family='sans-serif' font-size='12'>\n<rect width='100%' height='100%' "
           "fill='white'/>\n<text x='"
        << left << "' y='20' font-size='15'>" << model.name() << ": predicted latency per cut ("
        << (objective == Objective::Latency ? "latency" : "energy") << " objective)</text>\n";
    const char* colors[] = {"#4c78a8", "#f58518", "#54a24b", "#b279a2"};
    const char* names[] = {"edge (+ encode)", "upload", "cloud (wait, decode, compute)",
                           "RTT + download"};
    for (int c = 0; c < 4; ++c)
        svg << "<rect x='" << width - 170 << "' y='" << 40 + 18 * c
            << "' width='12' height='12' fill='" << colors[c] << "'/><text x='" << width - 152
            << "' y='" << 50 + 18 * c << "'>" << names[c] << "</text>\n";
    for (size_t b = 0; b < mbps.size(); ++b) {
        const int top = 40 + panel_h * int(b), base = top + panel_h - 40;
        double max_ms = 0;
        for (const auto& e : est[b]) max_ms = std::max(max_ms, e.total_ms);
        const double scale = (panel_h - 60) / std::max(max_ms, 1e-9);
        svg << "<text x='" << left << "' y='" << top + 12 << "'>" << mbps[b] << " Mbit/s: best cut "
            << chosen[b] << ", " << fixed(est[b][chosen[b]].total_ms, 2) << " ms (all edge "
            << fixed(est[b][n].total_ms, 1) << " ms, all cloud " << fixed(est[b][0].total_ms, 1)
            << " ms)"
            << (best[b].partition >= 0 ? "; a partition that is not a position, p" +
                                             std::to_string(best[b].partition + 1) + " (" +
                                             std::to_string(best[b].cut) + " nodes on the edge), " +
                                             fixed(best[b].total_ms, 2) + " ms"
                                       : std::string())
            << "</text>\n";
        svg << "<line x1='" << left << "' y1='" << base << "' x2='" << left + bar_w * (n + 1)
            << "' y2='" << base << "' stroke='black'/>\n<text x='5' y='" << base
            << "'>0 ms</text><text x='5' y='" << base - int(max_ms * scale) << "'>"
            << fixed(max_ms, 1) << "</text>\n";
        for (const auto& e : est[b]) {
            const double parts[] = {e.edge_ms + e.encode_ms, e.upload_ms,
                                    e.cloud_wait_ms + e.decode_ms + e.cloud_ms,
                                    e.rtt_ms + e.download_ms};
            double y = base;
            const int x = left + bar_w * e.cut;
            for (int c = 0; c < 4; ++c) {
                const double h = parts[c] * scale;
                y -= h;
                svg << "<rect x='" << x + 1 << "' y='" << fixed(y, 2) << "' width='" << bar_w - 2
                    << "' height='" << fixed(h, 2) << "' fill='" << colors[c] << "'/>\n";
            }
            if (e.cut == chosen[b])
                svg << "<rect x='" << x << "' y='" << fixed(y - 2, 2) << "' width='" << bar_w
                    << "' height='" << fixed(base - y + 2, 2)
                    << "' fill='none' stroke='red' stroke-width='2'/>\n<text x='" << x << "' y='"
                    << fixed(y - 6, 2) << "' fill='red'>cut " << e.cut
                    << (e.cut < n ? " " + e.wire : "") << "</text>\n";
            if (e.cut % std::max(1, (n + 1) / 12) == 0)
                svg << "<text x='" << x << "' y='" << base + 14 << "' font-size='10'>" << e.cut
                    << "</text>\n";
        }
    }
    svg << "<text x='" << left << "' y='" << height - 5 << "' font-size='10'>cut k: nodes [0,k) on "
        << "the edge, [k," << n << ") on the cloud</text>\n</svg>\n";
}

}  // namespace

int cmd_plan(int argc, char** argv) {
    cxxopts::Options opts("nsengine plan",
                          "Show the chosen split and every cut's predicted cost for given "
                          "device profiles and bandwidths (runs no layer).");
    add_model_options(opts);
    opts.add_options()("edge-profile", "the edge device's profile", cxxopts::value<std::string>())(
        "cloud-profile", "the cloud's profile", cxxopts::value<std::string>())(
        "bandwidth", "link rates in Mbit/s",
        cxxopts::value<std::string>()->default_value("1,10,100,1000"))(
        "rtt-ms", "round-trip time", cxxopts::value<double>()->default_value("5"))(
        "burst-kb",
        "the link's token bucket, full: this many KB leave at --peak-mbps before the rate applies",
        cxxopts::value<double>()->default_value("0"))(
        "peak-mbps", "the rate inside the burst", cxxopts::value<double>()->default_value("10000"))(
        "backlog-ms", "cloud queueing delay (priced with --queue-toll's toll too)",
        cxxopts::value<double>()->default_value("0"))(
        "edge-scale",
        "what if the edge ran at this factor of its profile's times (2: twice as slow)",
        cxxopts::value<double>()->default_value("1"))(
        "cloud-scale",
        "what if the cloud ran at this factor of its profile's times (0.1: ten times as fast, "
        "a GPU server against a CPU profile)",
        cxxopts::value<double>()->default_value("1"))(
        "objective", "latency or energy", cxxopts::value<std::string>()->default_value("latency"))(
        "wire",
        "encodings the cut's tensors may travel in: auto (lossless, and lossy ones where the "
        "calibration measured >= 99.5 % top-1 agreement), exact, or one encoding",
        cxxopts::value<std::string>()->default_value("auto"))(
        "wire-calibration",
        "the model's wire calibration (default: <model>.wire.json beside the model file, if any)",
        cxxopts::value<std::string>()->default_value(""))(
        "cuts",
        "dag: also the partitions of a branching network that are not positions (minimum cuts "
        "of its graph); positions: cuts of the file's node order only",
        cxxopts::value<std::string>()->default_value("dag"))(
        "svg", "also draw the cuts as stacked bars into this SVG file",
        cxxopts::value<std::string>())("h,help", "show this help");
    add_queue_toll_option(opts);
    auto args = parse_args(opts, argc, argv);
    if (print_help(opts, args)) return 0;
    NSE_CHECK(args.count("edge-profile") && args.count("cloud-profile"), ErrorCode::InvalidArgument,
              "--edge-profile and --cloud-profile are required");
    const DeviceProfile edge = DeviceProfile::load(args["edge-profile"].as<std::string>());
    const DeviceProfile cloud = DeviceProfile::load(args["cloud-profile"].as<std::string>());
    const Objective objective = parse_objective(args["objective"].as<std::string>());
    const std::vector<double> mbps = parse_list(args["bandwidth"].as<std::string>(), "--bandwidth");
    const double rtt = args["rtt-ms"].as<double>(), backlog = args["backlog-ms"].as<double>();
    NSE_CHECK(rtt >= 0 && backlog >= 0, ErrorCode::InvalidArgument,
              "--rtt-ms and --backlog-ms must be >= 0");
    const double queue_toll = queue_toll_arg(args);
    const double edge_scale = args["edge-scale"].as<double>(),
                 cloud_scale = args["cloud-scale"].as<double>();
    NSE_CHECK(edge_scale > 0 && edge_scale <= 1e3 && cloud_scale > 0 && cloud_scale <= 1e3,
              ErrorCode::InvalidArgument, "--edge-scale and --cloud-scale must be in (0, 1000]");
    const double burst_kb = args["burst-kb"].as<double>(), peak = args["peak-mbps"].as<double>();
    NSE_CHECK(burst_kb >= 0 && burst_kb <= 1e7 && peak > 0, ErrorCode::InvalidArgument,
              "--burst-kb must be 0..1e7 and --peak-mbps > 0");
    auto model = load_model_arg(args);
    Planner planner(*model, edge, cloud, parse_cuts(args["cuts"].as<std::string>()));
    const net::WirePolicy policy = net::parse_wire_policy(args["wire"].as<std::string>());
    const auto calibration =
        load_wire_calibration(args["wire-calibration"].as<std::string>(), model_path_arg(args),
                              *model, file_content_hash(model_path_arg(args)), "nsengine plan");
    const std::vector<WireOption> wires =
        net::wire_options(*model, edge, cloud, calibration.get(), policy);
    std::vector<std::string> notes;
    if (!calibration && policy.mode == net::WirePolicy::Mode::Auto)
        notes.push_back("no wire calibration for " + model->name() +
                        " (nsengine calibrate --model " + model->name() + "): fp32 only");
    if (edge.wire.empty() || cloud.wire.empty())
        notes.push_back(
            "a profile without wire costs (made before them; nsengine deploy again): "
            "encoding and decoding taken as free");
    std::vector<CutEstimate> best_fp32;
    std::vector<std::vector<CutEstimate>> all, parts;
    std::vector<CutEstimate> best;  // of positions and partitions
    std::vector<int> chosen;        // the best position
    const auto t0 = std::chrono::steady_clock::now();
    for (double m : mbps) {
        LinkState link;
        link.upload_bytes_per_ms = link.download_bytes_per_ms = m * 1e6 / 8 / 1e3;
        link.rtt_ms = rtt;
        link.cloud_backlog_ms = backlog;
        link.queue_toll = queue_toll;
        link.burst_bytes = link.burst_available_bytes = burst_kb * 1024;
        link.peak_bytes_per_ms = peak * 1e6 / 8 / 1e3;
        link.edge_scale = edge_scale;
        link.cloud_scale = cloud_scale;
        chosen.push_back(planner.choose(link, objective, wires));
        all.push_back(planner.estimate(link, wires, objective));
        parts.push_back(planner.estimate_partitions(link, wires));
        best.push_back(planner.best(link, wires, objective));
        const std::vector<CutEstimate> f = planner.estimate(link);
        best_fp32.push_back(f[size_t(planner.choose(link, objective))]);
    }
    const double decide_us =
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() /
        double(mbps.size());
    if (args.count("svg"))
        write_svg(args["svg"].as<std::string>(), *model, mbps, all, chosen, best, objective);
    if (args.count("json")) {
        nlohmann::json j = {{"model", model->name()},
                            {"objective", args["objective"].as<std::string>()},
                            {"rtt_ms", rtt},
                            {"burst_kb", burst_kb},
                            {"peak_mbps", peak},
                            {"edge_scale", edge_scale},
                            {"cloud_scale", cloud_scale},
                            {"decision_us", decide_us},
                            {"bandwidths", nlohmann::json::array()}};
        for (size_t b = 0; b < mbps.size(); ++b) {
            nlohmann::json cuts = nlohmann::json::array(), partitions = nlohmann::json::array();
            for (const auto& e : all[b]) cuts.push_back(estimate_json(e));
            for (const auto& e : parts[b]) {
                nlohmann::json p = estimate_json(e);
                p["partition"] = e.partition + 1;
                p["nodes"] = nodes_hex(planner.partitions()[size_t(e.partition)]);
                partitions.push_back(p);
            }
            const CutEstimate& pos = all[b][size_t(chosen[b])];
            j["bandwidths"].push_back(
                {{"mbps", mbps[b]},
                 {"chosen_cut", best[b].cut},
                 {"chosen_partition", best[b].partition + 1},  // 0: a position
                 {"chosen_nodes", best[b].partition >= 0
                                      ? nodes_hex(planner.partitions()[size_t(best[b].partition)])
                                      : ""},
                 {"chosen_wire", best[b].wire},
                 {"chosen_ms", best[b].total_ms},
                 {"best_position_cut", pos.cut},
                 {"best_position_wire", pos.wire},
                 {"best_position_ms", pos.total_ms},
                 {"best_fp32_cut", best_fp32[b].cut},
                 {"best_fp32_ms", best_fp32[b].total_ms},
                 {"cuts", cuts},
                 {"partitions", partitions}});
            j["notes"] = notes;
        }
        std::cout << j.dump(2) << '\n';
        return 0;
    }
    for (size_t b = 0; b < mbps.size(); ++b) {
        const auto& e = all[b];
        std::cout << (b ? "\n" : "") << model->name() << " at " << mbps[b] << " Mbit/s"
                  << (burst_kb > 0 ? " behind a full " + fixed(burst_kb, 0) + " KB burst" : "")
                  << ", RTT " << rtt << " ms: best cut " << chosen[b]
                  << (chosen[b] < model->size() ? " as " + e[chosen[b]].wire : "") << " ("
                  << fixed(e[chosen[b]].total_ms, 2) << " ms, " << fixed(e[chosen[b]].energy_mj, 1)
                  << " mJ on the edge; best as fp32: cut " << best_fp32[b].cut << ", "
                  << fixed(best_fp32[b].total_ms, 2) << " ms)\n";
        if (best[b].partition >= 0)
            std::cout << "  beaten by partition p" << best[b].partition + 1 << ": " << best[b].cut
                      << " nodes on the edge that are not a position, "
                      << fixed(best[b].total_ms, 2) << " ms, " << fixed(best[b].energy_mj, 1)
                      << " mJ (--split nodes:"
                      << nodes_hex(planner.partitions()[size_t(best[b].partition)]) << ")\n";
        // (With a backlog, the toll the choice added to each cloud cut: partition/planner.h.)
        const bool tolled = backlog > 0 && queue_toll > 0;
        std::vector<std::vector<std::string>> rows;
        for (const auto& c : e) {
            rows.push_back(
                {std::string(c.cut == chosen[b] ? "*" : "") + std::to_string(c.cut),
                 c.cut == 0 ? "(input)" : model->node(c.cut - 1).name, std::to_string(c.live_bytes),
                 c.cut < model->size() ? c.wire : "-",
                 c.cut < model->size() ? std::to_string(std::llround(c.wire_bytes)) : "0",
                 fixed(c.edge_ms, 2), fixed(c.encode_ms + c.decode_ms, 2), fixed(c.upload_ms, 2),
                 fixed(c.cloud_wait_ms + c.cloud_ms, 2), fixed(c.rtt_ms + c.download_ms, 2),
                 fixed(c.total_ms, 2), fixed(c.energy_mj, 1)});
            if (tolled) rows.back().push_back(fixed(c.toll_ms, 2));
        }
        std::vector<std::string> header = {"cut",        "after",       "live bytes", "wire",
                                           "sent bytes", "edge ms",     "codec ms",   "upload ms",
                                           "cloud ms",   "rtt+down ms", "total ms",   "edge mJ"};
        std::vector<bool> right = {true, false, true, false, true, true,
                                   true, true,  true, true,  true, true};
        if (tolled) {
            header.push_back("toll ms");
            right.push_back(true);
        }
        print_table(std::cout, header, rows, right);
        if (!parts[b].empty()) {
            std::cout << "partitions that are not positions (minimum cuts of the graph; their "
                         "tensors travel as fp32; nodes: --json):\n";
            rows.clear();
            for (const auto& c : parts[b])
                rows.push_back({std::string(c.partition == best[b].partition ? "*" : "") + "p" +
                                    std::to_string(c.partition + 1),
                                std::to_string(c.cut), std::to_string(c.live_bytes),
                                fixed(c.edge_ms, 2), fixed(c.upload_ms, 2),
                                fixed(c.cloud_wait_ms + c.cloud_ms, 2),
                                fixed(c.rtt_ms + c.download_ms, 2), fixed(c.total_ms, 2),
                                fixed(c.energy_mj, 1)});
            print_table(std::cout,
                        {"partition", "edge nodes", "live bytes", "edge ms", "upload ms",
                         "cloud ms", "rtt+down ms", "total ms", "edge mJ"},
                        rows, {false, true, true, true, true, true, true, true, true});
        }
    }
    for (const auto& note : notes) std::cout << "\nnote: " << note;
    if (!notes.empty()) std::cout << "\n";
    std::cout << "\ndecision time: " << fixed(decide_us, 1) << " us per bandwidth\n";
    return 0;
}

}  // namespace nse
