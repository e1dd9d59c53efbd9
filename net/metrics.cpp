#include "net/metrics.h"

#include <cstdio>

namespace nse::net {

namespace {

std::string num(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.9g", v);
    return buf;
}

void header(std::string& out, const char* name, const char* type, const char* help) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

void sample(std::string& out, const std::string& name, const std::string& labels, double v) {
    out += name;
    if (!labels.empty()) out += "{" + labels + "}";
    out += " " + num(v) + "\n";
}

std::string label(const char* key, const std::string& value) {
    return std::string(key) + "=\"" + prometheus_escape(value) + "\"";
}

}  // namespace

std::string prometheus_escape(const std::string& s) {
    std::string r;
    for (char c : s) {
        if (c == '\\' || c == '"') r += '\\';
        if (c == '\n') {
            r += "\\n";
            continue;
        }
        r += c;
    }
    return r;
}

Histogram::Histogram()
    : bounds_{1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 0.01, 0.025,
              0.05, 0.1,    0.25, 0.5,  1,      2.5,  5,    10},
      counts_(bounds_.size() + 1, 0) {}

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

namespace {
Histogram batch_histogram() { return Histogram({1, 2, 4, 8, 16, 32, 64, 128, 256}); }
}  // namespace

void Histogram::observe(double seconds) {
    size_t i = 0;
    while (i < bounds_.size() && seconds > bounds_[i]) ++i;
    ++counts_[i];
    sum_ += seconds;
    ++count_;
}

void Histogram::write(std::string& out, const std::string& name, const std::string& labels) const {
    const std::string sep = labels.empty() ? "" : labels + ",";
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= bounds_.size(); ++i) {
        cumulative += counts_[i];
        sample(out, name + "_bucket",
               sep + "le=\"" + (i < bounds_.size() ? num(bounds_[i]) : "+Inf") + "\"",
               double(cumulative));
    }
    sample(out, name + "_sum", labels, sum_);
    sample(out, name + "_count", labels, double(count_));
}

void Metrics::request(const std::string& model, uint32_t cut, const char* outcome, double receive_s,
                      double queue_s, double compute_s, uint32_t batch) {
    std::lock_guard<std::mutex> lock(mu_);
    ++requests_[{model, cut, outcome}];
    receive_[model].observe(receive_s);
    if (std::string(outcome) == "ok") {
        queue_[model].observe(queue_s);
        compute_[model].observe(compute_s);
        batch_.try_emplace(model, batch_histogram()).first->second.observe(batch);
    }
}

void Metrics::error(WireError kind) { error(wire_error_name(kind)); }

void Metrics::error(const char* kind) {
    std::lock_guard<std::mutex> lock(mu_);
    ++errors_[kind];
}

void Metrics::auth_failure(const char* reason) {
    std::lock_guard<std::mutex> lock(mu_);
    ++auth_failures_[reason];
}

void Metrics::received(uint64_t bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    bytes_in_ += bytes;
}

void Metrics::sent(uint64_t bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    bytes_out_ += bytes;
}

void Metrics::connection_opened() {
    std::lock_guard<std::mutex> lock(mu_);
    ++connections_;
    ++open_;
}

void Metrics::connection_closed() {
    std::lock_guard<std::mutex> lock(mu_);
    --open_;
}

void Metrics::tls_handshake(double seconds) {
    std::lock_guard<std::mutex> lock(mu_);
    handshake_.observe(seconds);
}

std::string Metrics::exposition(const Gauges& g) const {
    std::lock_guard<std::mutex> lock(mu_);
    std::string out;
    header(out, "nsengine_build_info", "gauge", "The server's version (always 1).");
    sample(out, "nsengine_build_info", label("version", NSE_VERSION), 1);
    header(out, "nsengine_ready", "gauge",
           "1 when serving; 0 while the deployment phase still builds the device profile.");
    sample(out, "nsengine_ready", "", g.ready ? 1 : 0);
    header(out, "nsengine_requests_total", "counter",
           "INFER requests for a served model, by model, cut and outcome (ok, failed, dropped).");
    for (const auto& [key, n] : requests_)
        sample(out, "nsengine_requests_total",
               label("model", std::get<0>(key)) + "," +
                   label("cut", std::to_string(std::get<1>(key))) + "," +
                   label("outcome", std::get<2>(key)),
               double(n));
    const std::pair<const char*, const std::map<std::string, Histogram>*> hists[] = {
        {"nsengine_receive_seconds", &receive_},
        {"nsengine_queue_seconds", &queue_},
        {"nsengine_compute_seconds", &compute_},
        {"nsengine_batch_size", &batch_}};
    const char* helps[] = {
        "Time to receive a request, first to last byte.",
        "Time a request waited for a worker (a batch's wait for more requests included).",
        "Time computing a request's suffix (the whole batch it ran in).",
        "Images computed together with an answered request (dynamic batching; 1 = alone)."};
    for (int i = 0; i < 4; ++i) {
        header(out, hists[i].first, "histogram", helps[i]);
        for (const auto& [model, h] : *hists[i].second)
            h.write(out, hists[i].first, label("model", model));
    }
    header(out, "nsengine_tls_handshake_seconds", "histogram", "Server-side TLS handshake time.");
    handshake_.write(out, "nsengine_tls_handshake_seconds", "");
    header(out, "nsengine_received_bytes_total", "counter",
           "Message bytes received (headers included).");
    sample(out, "nsengine_received_bytes_total", "", double(bytes_in_));
    header(out, "nsengine_sent_bytes_total", "counter", "Message bytes sent (headers included).");
    sample(out, "nsengine_sent_bytes_total", "", double(bytes_out_));
    header(out, "nsengine_connections_total", "counter", "Connections accepted.");
    sample(out, "nsengine_connections_total", "", double(connections_));
    header(out, "nsengine_open_connections", "gauge", "Connections open now.");
    sample(out, "nsengine_open_connections", "", double(open_));
    header(out, "nsengine_probes_total", "counter", "Bandwidth PROBEs answered.");
    sample(out, "nsengine_probes_total", "", double(g.probes));
    header(out, "nsengine_batches_total", "counter",
           "Suffix runs, each computing one request or a batch of them.");
    sample(out, "nsengine_batches_total", "", double(g.batches));
    header(out, "nsengine_queue_depth", "gauge", "Requests waiting for a worker.");
    sample(out, "nsengine_queue_depth", "", g.queued);
    header(out, "nsengine_running_requests", "gauge", "Requests being computed.");
    sample(out, "nsengine_running_requests", "", g.running);
    header(out, "nsengine_backlog_seconds", "gauge",
           "Predicted wait before a new request would start (as published to edges).");
    sample(out, "nsengine_backlog_seconds", "", g.backlog_s);
    header(out, "nsengine_auth_failures_total", "counter",
           "Failed authentications, by reason (token_missing, token_unknown, model_forbidden, "
           "certificate).");
    for (const auto& [reason, n] : auth_failures_)
        sample(out, "nsengine_auth_failures_total", label("reason", reason), double(n));
    header(out, "nsengine_errors_total", "counter",
           "ERROR replies by kind, and TLS handshakes that failed (kind tls_handshake).");
    for (const auto& [kind, n] : errors_)
        sample(out, "nsengine_errors_total", label("kind", kind), double(n));
    return out;
}

}  // namespace nse::net
