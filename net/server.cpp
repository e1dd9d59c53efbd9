#include "net/server.h"

#include <array>
#include <asio.hpp>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "base/thread_pool.h"
#include "engine/executor.h"

namespace nse::net {

using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

uint64_t micros(Clock::duration d) {
    return uint64_t(std::chrono::duration_cast<std::chrono::microseconds>(d).count());
}

std::string kb(size_t bytes) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1fKB", bytes / 1000.0);  // 1 KB = 1000 B, as the CLI prints
    return buf;
}

// The bytes of one outgoing frame, owned until the write completes.
struct Frame {
    uint8_t header[kHeaderBytes];
    std::vector<uint8_t> head;                  // payload bytes before any tensor data
    std::vector<std::shared_ptr<float>> owned;  // tensor data copies
    std::vector<std::pair<const void*, size_t>> blocks;

    std::vector<asio::const_buffer> buffers() const {
        std::vector<asio::const_buffer> b{asio::buffer(header, kHeaderBytes)};
        if (!head.empty()) b.push_back(asio::buffer(head));
        for (const auto& [p, n] : blocks) b.push_back(asio::buffer(p, n));
        return b;
    }
};

std::shared_ptr<Frame> make_frame(MsgType type, uint64_t id, std::vector<uint8_t> payload,
                                  uint32_t flags = 0) {
    auto f = std::make_shared<Frame>();
    FrameHeader h;
    h.type = uint16_t(type);
    h.flags = flags;
    h.request_id = id;
    h.payload_bytes = payload.size();
    encode_header(h, f->header);
    f->head = std::move(payload);
    return f;
}

}  // namespace

std::vector<Tensor> check_infer(const ServedModel& served, const InferRequest& req) {
    const Model& m = *served.model;
    if (req.model_hash != served.hash)
        throw ProtocolError(WireError::HashMismatch,
                            "model '" + req.model + "' differs: edge file hash " +
                                hash_hex(req.model_hash) + ", cloud " + hash_hex(served.hash));
    if (req.cut > uint32_t(m.size()))
        throw ProtocolError(WireError::BadCut, "cut " + std::to_string(req.cut) +
                                                   " is out of range [0, " +
                                                   std::to_string(m.size()) + "]");
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
        views.push_back(Tensor::view(t.shape, const_cast<float*>(t.data)));
    }
    return views;
}

class Session;

struct Job {
    std::shared_ptr<Session> session;
    const ServedModel* served = nullptr;
    uint32_t cut = 0;
    uint64_t request_id = 0;
    std::vector<Tensor> inputs;
    std::shared_ptr<float> payload;  // owns the inputs' bytes
    size_t in_bytes = 0;
    uint64_t receive_us = 0;
    double predicted_ms = 0;  // from the profile, for the backlog estimate
    Clock::time_point queued_at;
};

struct CloudServer::Impl {
    ServerOptions opts;
    std::vector<ServedModel> models;
    asio::io_context io;
    tcp::acceptor acceptor{io};
    asio::signal_set signals{io};
    std::set<std::shared_ptr<Session>> sessions;  // touched on the I/O thread only

    std::mutex mu;
    std::condition_variable cv;
    std::deque<Job> queue;
    int running = 0;
    double backlog_ms = 0;  // predicted compute of queued + running jobs
    bool stopping = false;
    std::vector<std::thread> workers;
    std::atomic<uint64_t> served{0};
    std::atomic<uint64_t> probes{0};
    std::mutex log_mu;

    void accept();
    void worker_main();
    void enqueue(Job job);
    void log(const std::string& line) {
        if (!opts.log) return;
        std::lock_guard<std::mutex> lock(log_mu);
        *opts.log << "nsengine cloud: " << line << std::endl;
    }
    struct Load {
        uint32_t queued, running;
        uint64_t backlog_us;
    };
    Load load() {
        std::lock_guard<std::mutex> lock(mu);
        return load_locked();
    }
    Load load_locked() const {
        return {uint32_t(queue.size()), uint32_t(running),
                uint64_t(std::max(0.0, backlog_ms) * 1e3 / opts.workers)};
    }
    const ServedModel* find(const std::string& name) const {
        for (const auto& m : models)
            if (m.model->name() == name) return &m;
        return nullptr;
    }
    nlohmann::json hello();
};

class Session : public std::enable_shared_from_this<Session> {
  public:
    Session(CloudServer::Impl& srv, tcp::socket sock)
        : srv_(srv), sock_(std::move(sock)), timer_(srv.io) {
        std::error_code ec;
        auto ep = sock_.remote_endpoint(ec);
        peer_ = ec ? "?" : ep.address().to_string() + ":" + std::to_string(ep.port());
        sock_.set_option(tcp::no_delay(true), ec);
    }

    const std::string& peer() const { return peer_; }
    void start() { read_header(); }

    // Answers ERROR and closes; used for protocol violations, timeouts and refusals.
    void fail(WireError code, const std::string& message, uint64_t id = 0) {
        if (closed_) return;
        srv_.log(peer_ + " error " + wire_error_name(code) + ": " + message);
        auto frame = make_frame(MsgType::Error, id, encode_error({code, message}));
        write(frame, [self = shared_from_this()] { self->drain_and_close(); });
    }

    void close() {
        if (closed_) return;
        closed_ = true;
        timer_.cancel();
        std::error_code ec;
        sock_.shutdown(tcp::socket::shutdown_both, ec);
        sock_.close(ec);
        srv_.sessions.erase(shared_from_this());
    }

    // After an ERROR: stop sending, then read and discard what the client still sends (a
    // bounded amount, for a bounded time) so that closing does not reset the connection before
    // the client has read the ERROR.
    void drain_and_close() {
        if (closed_) return;
        std::error_code ec;
        sock_.shutdown(tcp::socket::shutdown_send, ec);
        arm_close(0.5);
        drain(4u << 20);
    }

    // Called on the I/O thread with a finished job's reply.
    void reply(std::shared_ptr<Frame> frame, std::string log_line) {
        if (closed_) return;
        write(frame, [self = shared_from_this(), log_line = std::move(log_line)] {
            self->srv_.log(log_line);
            self->read_header();
        });
    }

  private:
    void arm(double seconds, const char* what) {
        timer_.expires_after(
            std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds)));
        timer_.async_wait([self = shared_from_this(), what, seconds](std::error_code ec) {
            if (ec || self->closed_) return;
            self->fail(WireError::Timeout,
                       std::string(what) + " for more than " + std::to_string(int(seconds)) + " s");
        });
    }

    void arm_close(double seconds) {
        timer_.expires_after(
            std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds)));
        timer_.async_wait([self = shared_from_this()](std::error_code ec) {
            if (!ec) self->close();
        });
    }

    void drain(size_t budget) {
        auto scratch = std::make_shared<std::array<uint8_t, 16384>>();
        sock_.async_read_some(asio::buffer(*scratch), [self = shared_from_this(), scratch, budget](
                                                          std::error_code ec, size_t n) {
            if (ec || self->closed_ || n >= budget) return self->close();
            self->drain(budget - n);
        });
    }

    void read_header() {
        if (closed_) return;
        arm(srv_.opts.idle_timeout_s, "idle");
        asio::async_read(
            sock_, asio::buffer(hdr_, kHeaderBytes),
            [self = shared_from_this()](std::error_code ec, size_t) { self->on_header(ec); });
    }

    void on_header(std::error_code ec) {
        if (ec || closed_) return close();  // client gone (or we closed it)
        first_byte_ = Clock::now();
        header_ = decode_header(hdr_);
        try {
            check_header(header_, srv_.opts.max_message_bytes);
        } catch (const ProtocolError& e) {
            return fail(e.wire(), e.what(), header_.request_id);
        }
        size_ = size_t(header_.payload_bytes);
        // Reuse the last buffer unless a job or a reply still holds it.
        if (!payload_ || payload_.use_count() > 1 || capacity_ < size_) {
            payload_ = aligned_floats((size_ + sizeof(float) - 1) / sizeof(float));
            capacity_ = size_;
        }
        arm(srv_.opts.io_timeout_s, "message incomplete");
        asio::async_read(
            sock_, asio::buffer(payload_.get(), size_),
            [self = shared_from_this()](std::error_code ec2, size_t) { self->on_payload(ec2); });
    }

    void on_payload(std::error_code ec) {
        if (ec || closed_) return close();
        timer_.cancel();
        const uint64_t receive_us = micros(Clock::now() - first_byte_);
        const uint8_t* p = reinterpret_cast<const uint8_t*>(payload_.get());
        const uint64_t id = header_.request_id;
        try {
            switch (MsgType(header_.type)) {
                case MsgType::Hello: {
                    decode_json(p, size_);
                    auto frame =
                        make_frame(MsgType::HelloAck, id, encode_json(srv_.hello().dump()));
                    return write(frame, [self = shared_from_this()] { self->read_header(); });
                }
                case MsgType::Probe: {
                    srv_.probes.fetch_add(1);
                    std::vector<uint8_t> ack = encode_probe_ack({receive_us, size_});
                    const bool echo = header_.flags & kProbeEcho;
                    auto frame = make_frame(MsgType::ProbeAck, id, std::move(ack), header_.flags);
                    if (echo) {
                        frame->owned.push_back(payload_);
                        frame->blocks.emplace_back(payload_.get(), size_);
                        FrameHeader h = decode_header(frame->header);
                        h.payload_bytes = frame->head.size() + size_;
                        encode_header(h, frame->header);
                    }
                    return write(frame, [self = shared_from_this()] { self->read_header(); });
                }
                case MsgType::Infer: {
                    InferRequest req = decode_infer(p, size_);
                    const ServedModel* served = srv_.find(req.model);
                    if (!served)
                        throw ProtocolError(WireError::UnknownModel,
                                            "model '" + req.model + "' is not served here");
                    Job job;
                    job.inputs = check_infer(*served, req);
                    job.session = shared_from_this();
                    job.served = served;
                    job.cut = req.cut;
                    job.request_id = id;
                    job.payload = payload_;
                    job.in_bytes = size_;
                    job.receive_us = receive_us;
                    job.predicted_ms = served->suffix_ms.empty() ? 0 : served->suffix_ms[req.cut];
                    job.queued_at = Clock::now();
                    srv_.enqueue(std::move(job));
                    return;  // the reply resumes reading
                }
                default:
                    throw ProtocolError(WireError::BadType,
                                        std::string("a client may not send ") +
                                            msg_type_name(MsgType(header_.type)));
            }
        } catch (const ProtocolError& e) {
            fail(e.wire(), e.what(), id);
        }
    }

    template <typename Done>
    void write(std::shared_ptr<Frame> frame, Done done) {
        arm(srv_.opts.io_timeout_s, "reply not taken");
        asio::async_write(sock_, frame->buffers(),
                          [self = shared_from_this(), frame, done](std::error_code ec, size_t) {
                              if (ec || self->closed_) return self->close();
                              self->timer_.cancel();
                              done();
                          });
    }

    CloudServer::Impl& srv_;
    tcp::socket sock_;
    asio::steady_timer timer_;
    std::string peer_;
    uint8_t hdr_[kHeaderBytes];
    FrameHeader header_;
    std::shared_ptr<float> payload_;
    size_t size_ = 0, capacity_ = 0;
    Clock::time_point first_byte_;
    bool closed_ = false;
};

nlohmann::json CloudServer::Impl::hello() {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& m : models)
        list.push_back(
            {{"name", m.model->name()}, {"hash", hash_hex(m.hash)}, {"nodes", m.model->size()}});
    const Load l = load();
    return {{"server", std::string("nsengine ") + NSE_VERSION},
            {"protocol", kProtocolVersion},
            {"device", device_name(opts.device.device)},
            {"threads", opts.threads},
            {"workers", opts.workers},
            {"models", list},
            {"load", {{"queued", l.queued}, {"running", l.running}, {"backlog_us", l.backlog_us}}},
            {"max_message_bytes", opts.max_message_bytes},
            {"profile", opts.profile ? opts.profile->to_json() : nlohmann::json()}};
}

void CloudServer::Impl::accept() {
    acceptor.async_accept([this](std::error_code ec, tcp::socket sock) {
        if (ec) {
            if (acceptor.is_open()) accept();
            return;
        }
        auto session = std::make_shared<Session>(*this, std::move(sock));
        sessions.insert(session);
        if (int(sessions.size()) > opts.max_clients)
            session->fail(WireError::Busy, "server busy: " + std::to_string(opts.max_clients) +
                                               " clients connected already");
        else
            session->start();
        accept();
    });
}

void CloudServer::Impl::enqueue(Job job) {
    {
        std::lock_guard<std::mutex> lock(mu);
        backlog_ms += job.predicted_ms;
        queue.push_back(std::move(job));
    }
    cv.notify_one();
}

void CloudServer::Impl::worker_main() {
    ThreadPool pool(opts.threads);
    ScopedThreadPool scoped(&pool);
    std::map<const Model*, std::unique_ptr<Executor>> runtimes;
    for (;;) {
        Job job;
        {
            std::unique_lock<std::mutex> lock(mu);
            cv.wait(lock, [&] { return stopping || !queue.empty(); });
            if (stopping) return;
            job = std::move(queue.front());
            queue.pop_front();
            ++running;
        }
        const Model& m = *job.served->model;
        auto& rt = runtimes[&m];
        ResultReply res;
        res.receive_us = job.receive_us;
        auto t0 = Clock::now();
        res.queue_us = micros(t0 - job.queued_at);
        std::shared_ptr<Frame> frame;
        try {
            if (!rt) rt = make_executor(job.served->model, opts.device);
            const std::vector<Tensor>& outs = rt->run(int(job.cut), m.size(), job.inputs);
            res.compute_us = micros(Clock::now() - t0);
            // The outputs are copied (they are a few KB for classifiers) so this worker can take
            // the next job while the I/O thread sends the reply.
            std::vector<std::shared_ptr<float>> copies;
            const std::vector<int>& ids = job.served->output_ids;
            for (size_t i = 0; i < outs.size(); ++i) {
                copies.push_back(aligned_floats(size_t(outs[i].numel())));
                std::memcpy(copies.back().get(), outs[i].data(), outs[i].bytes());
                res.tensors.push_back(
                    {m.tensor_name(ids[i]), outs[i].shape(), copies.back().get()});
            }
            {
                std::lock_guard<std::mutex> lock(mu);
                --running;
                backlog_ms -= job.predicted_ms;
                const Load l = load_locked();
                res.queued = l.queued;
                res.running = l.running;
                res.backlog_us = l.backlog_us;
            }
            Outgoing out = encode_result(res);
            const uint64_t payload_bytes = out.payload_bytes();
            frame = make_frame(MsgType::Result, job.request_id, std::move(out.head));
            FrameHeader h = decode_header(frame->header);
            h.payload_bytes = payload_bytes;
            encode_header(h, frame->header);
            frame->owned = std::move(copies);
            for (size_t i = 0; i < out.data.size(); ++i) {
                frame->blocks.emplace_back(out.data[i], out.bytes[i]);
                if (const size_t pad = pad_after(out.bytes[i]))
                    frame->blocks.emplace_back(kZeroPad, pad);
            }
        } catch (const std::exception& e) {
            {
                std::lock_guard<std::mutex> lock(mu);
                --running;
                backlog_ms -= job.predicted_ms;
            }
            asio::post(io, [s = std::move(job.session), msg = std::string(e.what()),
                            id = job.request_id] { s->fail(WireError::Internal, msg, id); });
            continue;
        }
        // The session reference travels with the reply, so a session is only ever destroyed on
        // the I/O thread that owns its socket and timer.
        served.fetch_add(1);
        char line[256];
        std::snprintf(line, sizeof line,
                      " %s cut=%u/%d in=%s out=%s receive=%.2fms queue=%.2fms compute=%.2fms",
                      m.name().c_str(), job.cut, m.size(), kb(job.in_bytes).c_str(),
                      kb(frame->head.size() + res.tensors[0].bytes()).c_str(), res.receive_us / 1e3,
                      res.queue_us / 1e3, res.compute_us / 1e3);
        asio::post(io, [s = std::move(job.session), frame, line = std::string(line)] {
            s->reply(frame, s->peer() + line);
        });
    }
}

CloudServer::CloudServer(ServerOptions options, std::vector<ServedModel> models)
    : impl_(std::make_unique<Impl>()) {
    impl_->opts = std::move(options);
    impl_->models = std::move(models);
    for (auto& m : impl_->models) {
        m.output_ids = m.model->live_at(m.model->size());
        if (!impl_->opts.profile) continue;
        const std::vector<double> node_ms = impl_->opts.profile->predict_model(*m.model);
        m.suffix_ms.assign(node_ms.size() + 1, 0);
        for (int k = int(node_ms.size()) - 1; k >= 0; --k)
            m.suffix_ms[k] = m.suffix_ms[k + 1] + node_ms[k];
    }
    NSE_CHECK(impl_->opts.threads >= 1 && impl_->opts.workers >= 1 && impl_->opts.max_clients >= 1,
              ErrorCode::InvalidArgument, "threads, workers and max clients must be >= 1");
}

CloudServer::~CloudServer() {
    stop();
    for (auto& t : impl_->workers)
        if (t.joinable()) t.join();
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
    for (int i = 0; i < s.opts.workers; ++i) s.workers.emplace_back([&s] { s.worker_main(); });
    s.accept();
}

uint16_t CloudServer::port() const { return impl_->acceptor.local_endpoint().port(); }

void CloudServer::run() {
    impl_->io.run();
    for (auto& t : impl_->workers)
        if (t.joinable()) t.join();
}

void CloudServer::stop() {
    {
        std::lock_guard<std::mutex> lock(impl_->mu);
        if (impl_->stopping) return;
        impl_->stopping = true;
    }
    impl_->cv.notify_all();
    asio::post(impl_->io, [s = impl_.get()] {
        std::error_code ec;
        s->acceptor.close(ec);
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

uint64_t CloudServer::requests_served() const { return impl_->served.load(); }
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
