// DeviceProfile as JSON (what `deploy` writes, HELLO_ACK carries and `--profile` reads) and
// where profiles are cached.
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>

#include "base/error.h"
#include "base/stats.h"
#include "kernels/cpu/cpu_features.h"
#include "partition/profile.h"

namespace nse {

namespace {
nlohmann::json kind_json(const std::string& kind, const KindFit& fit) {
    nlohmann::json k = {{"features", feature_names(kind)},
                        {"coef", fit.coef},
                        {"samples", fit.samples},
                        {"linear_rel_error", fit.linear_rel_error},
                        {"median_rel_error", fit.median_rel_error}};
    if (!fit.correction.empty()) {
        nlohmann::json points = nlohmann::json::array();
        for (const Sample& s : fit.correction.points()) {
            std::vector<double> row{s.ms};
            row.insert(row.end(), s.x.begin(), s.x.end());
            points.push_back(row);
        }
        k["neighbour_points"] = points;  // [ms, features...] per deployment sample
    }
    return k;
}

// `where`: "kind 'conv'" or "hot kind 'conv'", for the messages.
KindFit kind_from_json(const std::string& kind, const nlohmann::json& v, const std::string& where,
                       int kernel_revision) {
    KindFit fit;
    fit.coef = v.at("coef").get<std::vector<double>>();
    fit.samples = v.value("samples", 0);
    fit.median_rel_error = v.value("median_rel_error", 0.0);
    // A profile of other kernels may have other features: say so rather than only that the
    // count is wrong.
    const std::string older =
        kernel_revision == kKernelRevision
            ? ""
            : detail::concat(" (it was fitted for kernel revision ", kernel_revision,
                             ", this build has ", kKernelRevision, ": run nsengine deploy again)");
    NSE_CHECK(fit.coef.size() == feature_names(kind).size(), ErrorCode::InvalidArgument, "profile ",
              where, " has ", fit.coef.size(), " coefficients, expected ",
              feature_names(kind).size(), older);
    for (double c : fit.coef)
        NSE_CHECK(std::isfinite(c) && c >= 0, ErrorCode::InvalidArgument, "profile ", where,
                  " has a negative or non-finite coefficient");
    fit.linear_rel_error = v.value("linear_rel_error", fit.median_rel_error);
    if (v.contains("neighbour_points")) {
        std::vector<Sample> points;
        for (const auto& row : v.at("neighbour_points")) {
            auto r = row.get<std::vector<double>>();
            NSE_CHECK(r.size() == fit.coef.size() + 1, ErrorCode::InvalidArgument, "profile ",
                      where, ": a neighbour point has ", r.size(), " numbers, expected ",
                      fit.coef.size() + 1);
            for (double x : r)
                NSE_CHECK(std::isfinite(x) && x >= 0, ErrorCode::InvalidArgument, "profile ", where,
                          ": a neighbour point has a negative or non-finite number");
            NSE_CHECK(r[0] > 0, ErrorCode::InvalidArgument, "profile ", where,
                      ": a neighbour point has a zero time");
            points.push_back({std::vector<double>(r.begin() + 1, r.end()), r[0]});
        }
        fit.correction = NeighbourCorrection(std::move(points), fit.coef);
    }
    return fit;
}
}  // namespace

nlohmann::json DeviceProfile::to_json() const {
    nlohmann::json k = nlohmann::json::object();
    for (const auto& [kind, fit] : kinds) k[kind] = kind_json(kind, fit);
    nlohmann::json hot = nlohmann::json::object();
    for (const auto& [kind, fit] : hot_kinds) hot[kind] = kind_json(kind, fit);
    nlohmann::json memory_json = nullptr;
    if (memory.known()) {
        nlohmann::json reads = nlohmann::json::array();
        for (const auto& [mb, gbps] : memory.read_gbps)
            reads.push_back({mb, round_significant(gbps, 4)});
        memory_json = {{"cache_mb", memory.cache_mb},
                       {"cache_gbps", round_significant(memory.cache_gbps, 3)},
                       {"memory_gbps", round_significant(memory.memory_gbps, 3)},
                       {"cache_pressure", round_significant(memory.pressure)},
                       {"read_gbps", reads}};  // what the others are derived from
    }
    nlohmann::json wire_json = nlohmann::json::object();
    for (const auto& [name, c] : wire) wire_json[name] = {c.encode_ns, c.decode_ns};
    return {
        {"format", 1},
        {"device", device},
        {"cpu", cpu},
        {"cpu_path", cpu_path},
        {"threads", threads},
        {"engine", engine},
        {"kernel_revision", kernel_revision},
        {"created", created},
        {"power_w",
         {{"compute", power.compute_w}, {"transmit", power.transmit_w}, {"idle", power.idle_w}}},
        {"network_factor", network_factor},
        {"network_factors", network_factors},
        {"node_overhead_ms", node_overhead_ms},
        {"memory", memory_json},
        {"kinds", k},
        {"hot_network_factor", hot_network_factor},
        {"hot_handoff_ms_per_mb", hot_handoff_ms_per_mb},
        {"hot_kinds", hot},
        {"reference_ms", reference_ms},
        {"wire_ns", wire_json}};
}

DeviceProfile DeviceProfile::from_json(const nlohmann::json& j) {
    DeviceProfile p;
    try {
        NSE_CHECK(j.is_object() && j.at("format").get<int>() == 1, ErrorCode::InvalidArgument,
                  "profile format must be 1");
        p.device = j.at("device").get<std::string>();
        p.cpu = j.value("cpu", "");
        p.cpu_path = j.value("cpu_path", "");
        p.threads = j.at("threads").get<int>();
        p.engine = j.value("engine", "");
        p.kernel_revision = j.value("kernel_revision", 1);
        NSE_CHECK(p.kernel_revision >= 1, ErrorCode::InvalidArgument,
                  "profile kernel_revision must be >= 1");
        p.created = j.value("created", "");
        if (j.contains("power_w")) {
            const auto& w = j["power_w"];
            p.power.compute_w = w.value("compute", p.power.compute_w);
            p.power.transmit_w = w.value("transmit", p.power.transmit_w);
            p.power.idle_w = w.value("idle", p.power.idle_w);
        }
        p.network_factor = j.value("network_factor", 1.0);
        auto factor_ok = [](double f) { return std::isfinite(f) && f > 0.1 && f < 10; };
        NSE_CHECK(factor_ok(p.network_factor), ErrorCode::InvalidArgument,
                  "profile network_factor must be in (0.1, 10)");
        if (j.contains("network_factors")) {
            p.network_factors =
                j.at("network_factors").get<std::vector<std::pair<double, double>>>();
            for (const auto& [mb, f] : p.network_factors)
                NSE_CHECK(std::isfinite(mb) && mb > 0 && factor_ok(f), ErrorCode::InvalidArgument,
                          "profile network_factors must be [weights MB > 0, factor in (0.1, 10)] "
                          "pairs");
            std::sort(p.network_factors.begin(), p.network_factors.end());
            for (size_t i = 1; i < p.network_factors.size(); ++i)
                NSE_CHECK(p.network_factors[i].first > p.network_factors[i - 1].first,
                          ErrorCode::InvalidArgument,
                          "profile network_factors has two networks of the same size");
        }
        p.node_overhead_ms = j.value("node_overhead_ms", 0.0);
        NSE_CHECK(
            std::isfinite(p.node_overhead_ms) && p.node_overhead_ms >= 0 && p.node_overhead_ms < 1,
            ErrorCode::InvalidArgument, "profile node_overhead_ms must be in [0, 1)");
        if (j.contains("memory") && !j["memory"].is_null()) {
            const auto& m = j["memory"];
            p.memory = memory_facts(m.at("read_gbps").get<std::vector<std::pair<double, double>>>(),
                                    p.threads);
            p.memory.pressure = m.value("cache_pressure", 1.0);
            NSE_CHECK(std::isfinite(p.memory.pressure) && p.memory.pressure >= 1 &&
                          p.memory.pressure <= 1e4,
                      ErrorCode::InvalidArgument, "profile cache_pressure must be in [1, 1e4]");
        }
        for (const auto& [kind, v] : j.at("kinds").items())
            p.kinds[kind] = kind_from_json(kind, v, "kind '" + kind + "'", p.kernel_revision);
        if (j.contains("wire_ns"))
            for (const auto& [name, v] : j.at("wire_ns").items()) {
                const auto c = v.get<std::vector<double>>();
                NSE_CHECK(c.size() == 2 && c[0] >= 0 && c[1] >= 0 && c[0] < 1e6 && c[1] < 1e6,
                          ErrorCode::InvalidArgument, "profile wire_ns '", name,
                          "' must be [encode, decode] nanoseconds per value");
                p.wire[name] = {c[0], c[1]};
            }
        p.hot_network_factor = j.value("hot_network_factor", 0.0);
        NSE_CHECK(p.hot_network_factor == 0 || factor_ok(p.hot_network_factor),
                  ErrorCode::InvalidArgument,
                  "profile hot_network_factor must be 0 (none) or in (0.1, 10)");
        p.hot_handoff_ms_per_mb = j.value("hot_handoff_ms_per_mb", 0.0);
        NSE_CHECK(std::isfinite(p.hot_handoff_ms_per_mb) && p.hot_handoff_ms_per_mb >= 0 &&
                      p.hot_handoff_ms_per_mb < 100,
                  ErrorCode::InvalidArgument, "profile hot_handoff_ms_per_mb must be in [0, 100)");
        if (j.contains("hot_kinds"))
            for (const auto& [kind, v] : j.at("hot_kinds").items()) {
                NSE_CHECK(p.kinds.count(kind), ErrorCode::InvalidArgument, "profile hot kind '",
                          kind, "' is not a kind of the profile");
                p.hot_kinds[kind] =
                    kind_from_json(kind, v, "hot kind '" + kind + "'", p.kernel_revision);
            }
        if (j.contains("reference_ms")) {
            p.reference_ms = j.at("reference_ms").get<std::map<std::string, double>>();
            for (const auto& [name, ms] : p.reference_ms)
                NSE_CHECK(std::isfinite(ms) && ms > 0 && ms < 1e5, ErrorCode::InvalidArgument,
                          "profile reference_ms of '", name, "' must be in (0, 1e5)");
        }
        for (const std::string& kind : cost_kinds())
            NSE_CHECK(p.kinds.count(kind), ErrorCode::InvalidArgument, "profile has no fit for '",
                      kind, "' layers (written by an older nsengine?); run nsengine deploy again");
    } catch (const nlohmann::json::exception& e) {
        throw Error(ErrorCode::InvalidArgument, std::string("profile: ") + e.what());
    }
    return p;
}

DeviceProfile DeviceProfile::load(const std::string& path) {
    std::ifstream in(path);
    NSE_CHECK(in.good(), ErrorCode::Io, path, ": cannot read profile");
    auto j = nlohmann::json::parse(in, nullptr, false);
    // A file that is not a profile is a failure of the file (exit 1), as a missing one is.
    NSE_CHECK(!j.is_discarded(), ErrorCode::Io, path, ": profile is not JSON");
    try {
        return from_json(j);
    } catch (const Error& e) {
        throw Error(ErrorCode::Io, path + ": " + e.what());
    }
}

namespace {
// mkdir -p
void make_dirs(const std::string& dir) {
    for (size_t pos = 1; pos <= dir.size(); ++pos)
        if (pos == dir.size() || dir[pos] == '/') ::mkdir(dir.substr(0, pos).c_str(), 0755);
}
}  // namespace

void DeviceProfile::save(const std::string& path) const {
    const size_t slash = path.rfind('/');
    if (slash != std::string::npos && slash > 0) make_dirs(path.substr(0, slash));
    const std::string tmp = path + ".tmp";
    {
        std::ofstream out(tmp, std::ios::trunc);
        NSE_CHECK(out.good(), ErrorCode::Io, tmp, ": cannot write");
        out << to_json().dump(2) << '\n';
        NSE_CHECK(out.good(), ErrorCode::Io, tmp, ": write failed");
    }
    NSE_CHECK(std::rename(tmp.c_str(), path.c_str()) == 0, ErrorCode::Io, path, ": cannot rename");
}

std::string cached_profile_path(const std::string& device, int threads) {
    std::string dir;
    if (const char* d = std::getenv("NSE_CACHE_DIR"); d && *d)
        dir = d;
    else if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x)
        dir = std::string(x) + "/nsengine";
    else if (const char* h = std::getenv("HOME"); h && *h)
        dir = std::string(h) + "/.cache/nsengine";
    else
        dir = "/tmp/nsengine";
    make_dirs(dir);
    const std::string name =
        device == "cpu" ? "cpu-" + std::string(cpu_path_name(cpu_path())) : device;
    return dir + "/profile-" + name + "-" + std::to_string(threads) + "t.json";
}

}  // namespace nse
