// The cloud's counters, histograms and gauges, written in Prometheus' text exposition format
// (version 0.0.4) for GET /metrics (net/http_endpoint.h). Thread-safe: sessions record on the
// I/O thread, workers on theirs. Label values come only from the server's own vocabulary (served
// model names, cut numbers, error names), never from what a client sent, so a hostile client
// cannot grow the label sets.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "net/protocol.h"

namespace nse::net {

class Histogram {
  public:
    Histogram();  // buckets 100 µs .. 10 s (seconds)
    explicit Histogram(std::vector<double> bounds);
    void observe(double seconds);
    // `labels` is empty or `key="value",...` without braces.
    void write(std::string& out, const std::string& name, const std::string& labels) const;
    uint64_t count() const { return count_; }

  private:
    std::vector<double> bounds_;
    std::vector<uint64_t> counts_;  // per bucket (not cumulative)
    double sum_ = 0;
    uint64_t count_ = 0;
};

class Metrics {
  public:
    // outcome: "ok" (answered), "failed" (the computation threw) or "dropped" (the client went
    // away before the reply was written).
    // `batch`: the images computed together with an answered request (dynamic batching).
    void request(const std::string& model, uint32_t cut, const char* outcome, double receive_s,
                 double queue_s, double compute_s, uint32_t batch = 1);
    void error(WireError kind);
    void error(const char* kind);  // failures that never became an ERROR (TLS handshakes)
    // reason: token_missing, token_unknown, model_forbidden, certificate.
    void auth_failure(const char* reason);
    void received(uint64_t bytes);
    void sent(uint64_t bytes);
    void connection_opened();
    void connection_closed();
    void tls_handshake(double seconds);

    struct Gauges {
        uint32_t queued = 0, running = 0;
        double backlog_s = 0;
        bool ready = true;
        uint64_t probes = 0;   // PROBEs answered (the server counts them for probes_answered())
        uint64_t batches = 0;  // suffix runs, each of one or more requests
    };
    std::string exposition(const Gauges& gauges) const;

  private:
    mutable std::mutex mu_;
    std::map<std::tuple<std::string, uint32_t, std::string>, uint64_t> requests_;
    std::map<std::string, Histogram> receive_, queue_, compute_;  // by model
    std::map<std::string, Histogram> batch_;                      // by model
    std::map<std::string, uint64_t> errors_, auth_failures_;
    uint64_t bytes_in_ = 0, bytes_out_ = 0, connections_ = 0;
    int64_t open_ = 0;
    Histogram handshake_;
};

// `s` escaped for a label value (backslash, double quote, newline).
std::string prometheus_escape(const std::string& s);

}  // namespace nse::net
