#include "net/wire_choice.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <random>

#include "base/error.h"

namespace nse::net {

namespace {

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

double ns_per_value(const std::function<void()>& f, size_t values) {
    std::vector<double> t;
    for (int r = 0; r < 5; ++r) {
        const auto t0 = std::chrono::steady_clock::now();
        f();
        t.push_back(std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0)
                        .count());
    }
    return median(t) / double(values);
}

}  // namespace

std::map<std::string, WireCost> measure_wire_costs() {
    const Shape shape{1, 64, 56, 56};
    const size_t n = size_t(numel(shape));
    std::vector<float> x(n);
    std::mt19937 rng(17);
    std::normal_distribution<float> g(0.f, 1.f);
    for (auto& v : x) v = std::max(0.f, g(rng));  // half zeros, the rest half-normal
    std::map<std::string, WireCost> out;
    std::vector<uint8_t> buf;
    std::vector<float> y(n);
    for (const auto& enc : all_encodings()) {
        WireCost c;
        c.encode_ns = ns_per_value(
            [&] {
                buf.clear();
                encode_tensor(x.data(), shape, enc, buf);
            },
            n);
        c.decode_ns =
            ns_per_value([&] { decode_tensor(buf.data(), buf.size(), shape, enc, y.data()); }, n);
        out[enc.name()] = c;
    }
    return out;
}

nlohmann::json WireCalibration::to_json() const {
    nlohmann::json cj = nlohmann::json::array();
    for (size_t k = 0; k < cuts.size(); ++k) {
        nlohmann::json e = nlohmann::json::object();
        for (const auto& [name, m] : cuts[k])
            e[name] = {{"ratio", m.ratio},
                       {"top1_agreement", m.top1_agreement},
                       {"max_rel_error", m.max_rel_error}};
        cj.push_back({{"cut", k}, {"encodings", e}});
    }
    return {{"format", 1},
            {"model", model},
            {"model_hash", model_hash},
            {"images", images},
            {"cuts", cj}};
}

WireCalibration WireCalibration::from_json(const nlohmann::json& j) {
    try {
        NSE_CHECK(j.value("format", 0) == 1, ErrorCode::InvalidArgument,
                  "not a wire calibration (format 1)");
        WireCalibration c;
        c.model = j.at("model").get<std::string>();
        c.model_hash = j.at("model_hash").get<std::string>();
        c.images = j.at("images").get<std::vector<std::string>>();
        for (const auto& cut : j.at("cuts")) {
            NSE_CHECK(cut.at("cut").get<size_t>() == c.cuts.size(), ErrorCode::InvalidArgument,
                      "cuts must be listed 0, 1, 2, ... in order");
            std::map<std::string, WireMeasure> m;
            for (const auto& [name, v] : cut.at("encodings").items()) {
                parse_encoding(name);  // a known one
                WireMeasure w{v.at("ratio").get<double>(), v.at("top1_agreement").get<double>(),
                              v.at("max_rel_error").get<double>()};
                NSE_CHECK(w.ratio > 0 && w.ratio < 2 && w.top1_agreement >= 0 &&
                              w.top1_agreement <= 1 && w.max_rel_error >= 0,
                          ErrorCode::InvalidArgument, "cut ", c.cuts.size(), " ", name,
                          ": ratio must be in (0, 2), agreement in [0, 1], error >= 0");
                m[name] = w;
            }
            c.cuts.push_back(std::move(m));
        }
        return c;
    } catch (const nlohmann::json::exception& e) {
        throw Error(ErrorCode::InvalidArgument, std::string("wire calibration: ") + e.what());
    }
}

WireCalibration WireCalibration::load(const std::string& path) {
    std::ifstream f(path);
    NSE_CHECK(f, ErrorCode::Io, "cannot open wire calibration ", path);
    const auto j = nlohmann::json::parse(f, nullptr, false);
    NSE_CHECK(!j.is_discarded(), ErrorCode::InvalidArgument, path, " is not JSON");
    try {
        return from_json(j);
    } catch (const Error& e) {
        throw Error(ErrorCode::InvalidArgument, path + ": " + e.what());
    }
}

void WireCalibration::save(const std::string& path) const {
    const std::string tmp = path + ".tmp";
    {
        std::ofstream f(tmp);
        NSE_CHECK(f, ErrorCode::Io, "cannot write ", tmp);
        f << to_json().dump(1) << "\n";
        NSE_CHECK(f.good(), ErrorCode::Io, "cannot write ", tmp);
    }
    NSE_CHECK(std::rename(tmp.c_str(), path.c_str()) == 0, ErrorCode::Io, "cannot rename ", tmp,
              " to ", path);
}

std::string calibration_path(const std::string& model_file) {
    const std::string ext = ".safetensors";
    std::string base = model_file;
    if (base.size() > ext.size() && base.compare(base.size() - ext.size(), ext.size(), ext) == 0)
        base.resize(base.size() - ext.size());
    return base + ".wire.json";
}

WirePolicy parse_wire_policy(const std::string& s) {
    WirePolicy p;
    if (s == "auto") return p;
    if (s == "exact") {
        p.mode = WirePolicy::Mode::Exact;
        return p;
    }
    try {
        p.forced = parse_encoding(s);
    } catch (const Error&) {
        throw Error(ErrorCode::InvalidArgument, "--wire must be auto, exact or an encoding (" +
                                                    encoding_names() + "), got '" + s + "'");
    }
    p.mode = WirePolicy::Mode::Forced;
    return p;
}

std::vector<WireOption> wire_options(const Model& model, const DeviceProfile& edge,
                                     const DeviceProfile& cloud, const WireCalibration* calibration,
                                     const WirePolicy& policy,
                                     const std::vector<std::string>& accepted) {
    const int n = model.size();
    const std::vector<Shape> shapes = model.shapes_for_batch(1);
    std::vector<WireOption> out;
    for (const auto& enc : all_encodings()) {
        const std::string name = enc.name();
        if (policy.mode == WirePolicy::Mode::Exact && !enc.lossless()) continue;
        if (policy.mode == WirePolicy::Mode::Forced && enc != policy.forced) continue;
        if (!enc.raw_f32() && !accepted.empty() &&
            std::find(accepted.begin(), accepted.end(), name) == accepted.end())
            continue;
        WireOption o;
        o.name = name;
        const auto e = edge.wire.find(name);
        const auto c = cloud.wire.find(name);
        o.encode_ns = e == edge.wire.end() ? 0 : e->second.encode_ns;
        o.decode_ns = c == cloud.wire.end() ? 0 : c->second.decode_ns;
        o.ratio.assign(size_t(n), 0);
        bool any = false;
        for (int k = 0; k < n; ++k) {
            double raw = 0, formatted = 0;
            for (int id : model.live_at(k)) {
                raw += double(numel(shapes[size_t(id)])) * 4;
                formatted += double(format_bytes(shapes[size_t(id)], enc.format));
            }
            const WireMeasure* m = nullptr;
            if (calibration && size_t(k) < calibration->cuts.size()) {
                const auto it = calibration->cuts[size_t(k)].find(name);
                if (it != calibration->cuts[size_t(k)].end()) m = &it->second;
            }
            double ratio = 0;
            if (policy.mode == WirePolicy::Mode::Forced) {
                ratio = m ? m->ratio : formatted / raw;  // a coded one is learnt as it goes
            } else if (enc.coding == WireCoding::Raw && enc.lossless()) {
                ratio = 1;
            } else if (m && (enc.lossless() || m->top1_agreement >= policy.min_agreement)) {
                ratio = m->ratio;
            }
            o.ratio[size_t(k)] = ratio;
            any |= ratio > 0;
        }
        if (any) out.push_back(std::move(o));
    }
    return out;
}

}  // namespace nse::net
