#include "layers/layer.h"

#include <cmath>

namespace nse {

double Layer::weight_read_mb(const std::vector<Shape>& in) const {
    return double(param_bytes()) / 1e6;
}

size_t Layer::param_bytes() const {
    size_t bytes = 0;
    for (const auto& p : params_) bytes += p.bytes();
    return bytes;
}

int64_t attr_int(const nlohmann::json& attrs, const char* key, int64_t fallback) {
    if (!attrs.contains(key)) return fallback;
    const auto& v = attrs[key];
    NSE_CHECK(v.is_number_integer(), ErrorCode::InvalidModel, "attribute '", key,
              "' must be an integer, got ", v.dump());
    return v.get<int64_t>();
}

double attr_float(const nlohmann::json& attrs, const char* key, double fallback) {
    if (!attrs.contains(key)) return fallback;
    const auto& v = attrs[key];
    NSE_CHECK(v.is_number() && std::isfinite(v.get<double>()), ErrorCode::InvalidModel,
              "attribute '", key, "' must be a finite number, got ", v.dump());
    return v.get<double>();
}

std::vector<int64_t> attr_ints(const nlohmann::json& attrs, const char* key) {
    NSE_CHECK(attrs.contains(key), ErrorCode::InvalidModel, "attribute '", key, "' is missing");
    const auto& v = attrs[key];
    NSE_CHECK(v.is_array() && v.size() <= 8, ErrorCode::InvalidModel, "attribute '", key,
              "' must be a list of at most 8 integers, got ", v.dump());
    std::vector<int64_t> out;
    for (const auto& e : v) {
        NSE_CHECK(e.is_number_integer(), ErrorCode::InvalidModel, "attribute '", key,
                  "' must be a list of integers, got ", v.dump());
        out.push_back(e.get<int64_t>());
    }
    return out;
}

bool attr_bool(const nlohmann::json& attrs, const char* key, bool fallback) {
    if (!attrs.contains(key)) return fallback;
    const auto& v = attrs[key];
    NSE_CHECK(v.is_boolean(), ErrorCode::InvalidModel, "attribute '", key,
              "' must be true or false, got ", v.dump());
    return v.get<bool>();
}

std::array<int64_t, 2> attr_pair(const nlohmann::json& attrs, const char* key,
                                 std::array<int64_t, 2> fallback) {
    if (!attrs.contains(key)) return fallback;
    const auto& v = attrs[key];
    if (v.is_number_integer()) return {v.get<int64_t>(), v.get<int64_t>()};
    NSE_CHECK(v.is_array() && v.size() == 2 && v[0].is_number_integer() && v[1].is_number_integer(),
              ErrorCode::InvalidModel, "attribute '", key,
              "' must be an integer or a list of two integers, got ", v.dump());
    return {v[0].get<int64_t>(), v[1].get<int64_t>()};
}

Activation attr_activation(const nlohmann::json& attrs) {
    if (!attrs.contains("activation")) return Activation::None;
    const auto& v = attrs["activation"];
    NSE_CHECK(v.is_string(), ErrorCode::InvalidModel, "attribute 'activation' must be a string");
    const std::string a = v.get<std::string>();
    if (a == "relu") return Activation::Relu;
    if (a == "relu6") return Activation::Relu6;
    NSE_CHECK(a == "none", ErrorCode::InvalidModel, "unknown activation '", a,
              "' (expected relu, relu6 or none)");
    return Activation::None;
}

int64_t normalize_axis(int64_t axis, size_t rank, const char* what) {
    const int64_t r = static_cast<int64_t>(rank);
    NSE_CHECK(axis >= -r && axis < r, ErrorCode::InvalidModel, what, " axis ", axis,
              " is out of range for rank ", rank);
    return axis < 0 ? axis + r : axis;
}

void expect_params(const std::vector<Tensor>& params, size_t count, const char* op) {
    NSE_CHECK(params.size() == count, ErrorCode::InvalidModel, op, " takes ", count,
              " weight tensors, the graph lists ", params.size());
}

}  // namespace nse
