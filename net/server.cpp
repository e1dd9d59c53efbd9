// The listener: binds, accepts edge connections (each a Session, net/session.h), refuses those
// past max_clients, starts and stops the scheduler's workers (net/scheduler.h) and the I/O thread.
#include "net/server.h"

#include <asio.hpp>
#include <chrono>
#include <future>

#include "net/http_endpoint.h"
#include "net/session.h"

namespace nse::net {

using asio::ip::tcp;

namespace {
// The model a request with a node set runs on.
std::shared_ptr<const Model> partitioned(const ServedModel& served, const InferRequest& req) {
    const Model& m = *served.model;
    if (!served.partitions) throw ProtocolError(WireError::BadCut, "this cloud takes no node sets");
    if (req.node_bits != uint32_t(m.size()))
        throw ProtocolError(WireError::BadCut, "a node set of " + std::to_string(req.node_bits) +
                                                   " nodes for a model of " +
                                                   std::to_string(m.size()));
    try {
        const NodeSet edge = unpack_nodes(req.nodes.data(), req.nodes.size(), m.size());
        if (edge_count(edge) != int(req.cut))
            throw ProtocolError(WireError::BadCut, "cut " + std::to_string(req.cut) +
                                                       " with a node set of " +
                                                       std::to_string(edge_count(edge)) + " nodes");
        return served.partitions->get(edge);
    } catch (const ProtocolError&) {
        throw;
    } catch (const Error& e) {
        throw ProtocolError(WireError::BadCut, std::string("node set: ") + e.what());
    }
}
}  // namespace

std::vector<Tensor> check_infer(const ServedModel& served, const InferRequest& req,
                                uint64_t max_decoded_bytes, std::shared_ptr<const Model>* model) {
    if (req.model_hash != served.hash)
        throw ProtocolError(WireError::HashMismatch,
                            "model '" + req.model + "' differs: edge file hash " +
                                hash_hex(req.model_hash) + ", cloud " + hash_hex(served.hash));
    if (req.cut > uint32_t(served.model->size()))
        throw ProtocolError(WireError::BadCut, "cut " + std::to_string(req.cut) +
                                                   " is out of range [0, " +
                                                   std::to_string(served.model->size()) + "]");
    const std::shared_ptr<const Model> runs =
        req.node_bits ? partitioned(served, req) : served.model;
    if (model) *model = runs;
    const Model& m = *runs;
    const std::vector<int> live = m.live_at(int(req.cut));
    if (req.tensors.size() != live.size())
        throw ProtocolError(WireError::BadTensors, "cut " + std::to_string(req.cut) + " has " +
                                                       std::to_string(live.size()) +
                                                       " live tensor(s), got " +
                                                       std::to_string(req.tensors.size()));
    const int64_t batch = req.tensors[0].shape[0];
    if (batch < 1 || batch > 4096)
        throw ProtocolError(WireError::BadTensors, "batch " + std::to_string(batch));
    std::vector<Shape> shapes;
    try {
        shapes = m.shapes_for_batch(batch);
    } catch (const Error& e) {
        throw ProtocolError(WireError::BadTensors, e.what());
    }
    uint64_t decoded = 0;
    for (size_t i = 0; i < live.size(); ++i) decoded += uint64_t(numel(shapes[live[i]])) * 4;
    if (decoded > max_decoded_bytes)
        throw ProtocolError(WireError::TooLarge, "cut " + std::to_string(req.cut) + " at batch " +
                                                     std::to_string(batch) + " holds " +
                                                     std::to_string(decoded) +
                                                     " bytes of tensors, over the limit of " +
                                                     std::to_string(max_decoded_bytes));
    std::vector<Tensor> views;
    for (size_t i = 0; i < live.size(); ++i) {
        const WireTensor& t = req.tensors[i];
        const std::string& want = m.tensor_name(live[i]);
        if (t.name != want)
            throw ProtocolError(WireError::BadTensors,
                                "tensor #" + std::to_string(i) + " is '" + t.name + "', cut " +
                                    std::to_string(req.cut) + " expects '" + want + "'");
        if (t.shape != shapes[live[i]])
            throw ProtocolError(WireError::BadTensors, "tensor '" + t.name + "' has shape " +
                                                           shape_str(t.shape) + ", expected " +
                                                           shape_str(shapes[live[i]]));
        views.push_back(t.encoding.raw_f32() ? Tensor::view(t.shape, const_cast<float*>(t.data))
                                             : Tensor::zeros(t.shape));
    }
    return views;
}

void decode_infer_inputs(const std::vector<WireTensor>& wire, std::vector<Tensor>& inputs) {
    NSE_ASSERT(wire.size() == inputs.size());
    for (size_t i = 0; i < wire.size(); ++i) {
        const WireTensor& t = wire[i];
        if (t.encoding.raw_f32()) continue;
        NSE_ASSERT(inputs[i].shape() == t.shape);
        decode_tensor(t.encoded, t.encoded_bytes, t.shape, t.encoding, inputs[i].data());
    }
}

struct CloudServer::Impl : ServerState {
    using ServerState::ServerState;
    tcp::acceptor acceptor{io};
    asio::signal_set signals{io};
    std::atomic<bool> stopped{false};
    std::unique_ptr<HttpEndpoint> http;  // health and metrics, when asked for

    void accept();
    HttpResponse http_get(const std::string& path);
};

HttpResponse CloudServer::Impl::http_get(const std::string& path) {
    if (path == "/healthz") return {200, "text/plain; charset=utf-8", "ok\n"};
    if (path == "/readyz") {
        if (ready) return {200, "text/plain; charset=utf-8", "ready\n"};
        const int pct = ready_percent.load();
        return {503, "text/plain; charset=utf-8",
                "not ready: building this machine's device profile" +
                    (pct >= 0 ? " (" + std::to_string(pct) + " % done)" : std::string()) + "\n"};
    }
    if (path == "/metrics")
        return {200, "text/plain; version=0.0.4; charset=utf-8", metrics.exposition(gauges())};
    return {404, "text/plain; charset=utf-8", "not found; try /healthz, /readyz or /metrics\n"};
}

void CloudServer::Impl::accept() {
    acceptor.async_accept([this](std::error_code ec, tcp::socket sock) {
        if (ec) {
            if (acceptor.is_open()) accept();
            return;
        }
        auto session = std::make_shared<Session>(*this, std::move(sock));
        sessions.insert(session);
        session->start(int(sessions.size()) > opts.max_clients);
        accept();
    });
}

namespace {
// A model's predicted cloud time per cut and batch size (empty without a profile).
BatchCosts predict_costs(const Model& model, const DeviceProfile* profile, int max_batch) {
    return profile ? BatchCosts(model, *profile, max_batch) : BatchCosts();
}
}  // namespace

CloudServer::CloudServer(ServerOptions options, std::vector<ServedModel> models) {
    NSE_CHECK(options.threads >= 1 && options.workers >= 1 && options.max_clients >= 1,
              ErrorCode::InvalidArgument, "threads, workers and max clients must be >= 1");
    for (auto& m : models) {
        m.output_ids = m.model->live_at(m.model->size());
        m.partitions = std::make_shared<PartitionedModels>(m.model);
        m.costs = predict_costs(*m.model, options.profile.get(), options.max_batch);
    }
    impl_ = std::make_unique<Impl>(std::move(options), std::move(models));
}

void CloudServer::set_profile(std::shared_ptr<const DeviceProfile> profile) {
    // Predicted here, not on the I/O thread (the models are immutable); the sessions read the
    // suffixes and the profile on the I/O thread only, where they are handed over.
    std::vector<BatchCosts> costs;
    for (const auto& m : impl_->models)
        costs.push_back(predict_costs(*m.model, profile.get(), impl_->opts.max_batch));
    auto applied = std::make_shared<std::promise<void>>();
    std::future<void> done = applied->get_future();
    asio::post(impl_->io, [s = impl_.get(), profile, costs = std::move(costs), applied] {
        s->opts.profile = profile;
        for (size_t i = 0; i < s->models.size(); ++i) s->models[i].costs = costs[i];
        s->ready = true;
        applied->set_value();
    });
    // Served from when this returns (unless the server stopped meanwhile, or never ran).
    while (done.wait_for(std::chrono::milliseconds(50)) != std::future_status::ready)
        if (impl_->stopped.load() || impl_->io.stopped()) return;
}

void CloudServer::set_progress(int percent) { impl_->ready_percent.store(percent); }

bool CloudServer::stopping() const { return impl_->stopped.load(); }

CloudServer::~CloudServer() {
    stop();
    impl_->scheduler.join();
}

void CloudServer::start() {
    Impl& s = *impl_;
    std::error_code ec;
    auto addr = asio::ip::make_address(s.opts.host, ec);
    NSE_CHECK(!ec, ErrorCode::InvalidArgument, "'", s.opts.host, "' is not an IP address");
    tcp::endpoint ep(addr, s.opts.port);
    s.acceptor.open(ep.protocol(), ec);
    if (!ec) s.acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) s.acceptor.bind(ep, ec);
    if (!ec) s.acceptor.listen(asio::socket_base::max_listen_connections, ec);
    NSE_CHECK(!ec, ErrorCode::Network, "cannot listen on ", s.opts.host, ":", s.opts.port, ": ",
              ec.message());
    if (s.opts.metrics_port >= 0) {
        s.http = std::make_unique<HttpEndpoint>(
            s.io, [impl = &s](const std::string& path) { return impl->http_get(path); });
        s.http->listen(s.opts.metrics_host, uint16_t(s.opts.metrics_port));
    }
    s.scheduler.start();
    s.accept();
}

uint16_t CloudServer::port() const { return impl_->acceptor.local_endpoint().port(); }

uint16_t CloudServer::metrics_port() const { return impl_->http ? impl_->http->port() : 0; }

void CloudServer::run() {
    impl_->io.run();
    impl_->scheduler.join();
}

void CloudServer::stop() {
    if (impl_->stopped.exchange(true)) return;
    impl_->scheduler.stop();
    asio::post(impl_->io, [s = impl_.get()] {
        std::error_code ec;
        s->acceptor.close(ec);
        if (s->http) s->http->close();
        s->signals.cancel(ec);
        auto sessions = s->sessions;
        for (auto& session : sessions) session->close();
        s->io.stop();
    });
}

void CloudServer::stop_on_signals() {
    impl_->signals.add(SIGINT);
    impl_->signals.add(SIGTERM);
    impl_->signals.async_wait([this](std::error_code ec, int sig) {
        if (ec) return;
        impl_->log(std::string("signal ") + (sig == SIGINT ? "SIGINT" : "SIGTERM") +
                   ", shutting down");
        stop();
    });
}

nlohmann::json CloudServer::hello() const { return impl_->hello(); }

std::string CloudServer::metrics_text() const { return impl_->metrics.exposition(impl_->gauges()); }

uint64_t CloudServer::requests_served() const { return impl_->scheduler.served(); }
uint64_t CloudServer::probes_answered() const { return impl_->probes.load(); }

BackgroundServer::BackgroundServer(ServerOptions options, std::vector<ServedModel> models)
    : server_(std::move(options), std::move(models)) {
    server_.start();
    thread_ = std::thread([this] { server_.run(); });
}

BackgroundServer::~BackgroundServer() {
    server_.stop();
    thread_.join();
}

}  // namespace nse::net
