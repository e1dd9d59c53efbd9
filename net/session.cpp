#include "net/session.h"

#include <openssl/ssl.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstring>

namespace nse::net {

using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {
std::string seconds_str(double s) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", s);
    return buf;
}

// The request's predicted compute on this cloud at each batch size, for the backlog: the suffix
// of its cut, or the nodes its node set leaves to the cloud (check_infer has checked it).
RequestCost predicted_cost(const ServedModel& served, const InferRequest& req) {
    if (served.costs.empty()) return {};
    if (!req.node_bits) return served.costs.request(req.cut, nullptr);
    const NodeSet edge = unpack_nodes(req.nodes.data(), req.nodes.size(), int(req.node_bits));
    return served.costs.request(req.cut, &edge);
}
}  // namespace

void ServerState::log(const std::string& line) {
    if (!opts.log) return;
    std::lock_guard<std::mutex> lock(log_mu);
    *opts.log << "nsengine cloud: " << line << std::endl;
}

const ServedModel* ServerState::find(const std::string& name) const {
    for (const auto& m : models)
        if (m.model->name() == name) return &m;
    return nullptr;
}

namespace {
nlohmann::json wire_names() {
    nlohmann::json names = nlohmann::json::array();
    for (const auto& e : all_encodings()) names.push_back(e.name());
    return names;
}
}  // namespace

nlohmann::json ServerState::hello(const TokenStore::Grant* grant) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& m : models)
        if (!grant || grant->allows(m.model->name()))
            list.push_back({{"name", m.model->name()},
                            {"hash", hash_hex(m.hash)},
                            {"nodes", m.model->size()}});
    const Scheduler::Load l = scheduler.load();
    return {{"server", std::string("nsengine ") + NSE_VERSION},
            {"protocol", kProtocolVersion},
            {"device", device_name(opts.device.device)},
            {"threads", opts.threads},
            {"workers", opts.workers},
            {"models", list},
            {"load", {{"queued", l.queued}, {"running", l.running}, {"backlog_us", l.backlog_us}}},
            {"max_message_bytes", opts.max_message_bytes},
            {"wire", wire_names()},
            {"profile", opts.profile ? opts.profile->to_json() : nlohmann::json()}};
}

Metrics::Gauges ServerState::gauges() {
    const Scheduler::Load l = scheduler.load();
    Metrics::Gauges g;
    g.queued = l.queued;
    g.running = l.running;
    g.backlog_s = l.backlog_us / 1e6;
    g.ready = ready;
    g.probes = probes.load();
    g.batches = scheduler.batches();
    return g;
}

Session::Session(ServerState& srv, tcp::socket sock)
    : srv_(srv), stream_(std::move(sock), srv.tls.get()), timer_(srv.io) {
    std::error_code ec;
    auto ep = stream_.socket().remote_endpoint(ec);
    peer_ip_ = ec ? "?" : ep.address().to_string();
    peer_ = ec ? "?" : peer_ip_ + ":" + std::to_string(ep.port());
    stream_.socket().set_option(tcp::no_delay(true), ec);
    srv_.metrics.connection_opened();
}

void Session::start(bool busy) {
    if (!stream_.tls()) {
        if (busy) return refuse_busy();
        return read_header();
    }
    timer_.expires_after(std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(srv_.opts.handshake_timeout_s)));
    timer_.async_wait([self = shared_from_this()](std::error_code ec) {
        if (ec || self->closed_) return;
        self->srv_.metrics.error("handshake_timeout");
        self->srv_.log(self->peer_ + " TLS handshake not finished within " +
                       seconds_str(self->srv_.opts.handshake_timeout_s) + " s; closed");
        self->close();
    });
    // A plaintext nsengine frame on a TLS port gets a plaintext ERROR that says why, rather
    // than a failed handshake the edge could only guess at.
    stream_.socket().async_wait(
        tcp::socket::wait_read, [self = shared_from_this(), busy](std::error_code ec) {
            if (ec || self->closed_) return self->close();
            uint8_t head[4];
            std::error_code e;
            const size_t n =
                self->stream_.socket().receive(asio::buffer(head), tcp::socket::message_peek, e);
            const uint32_t magic = kMagic;
            if (!e && n == sizeof head && std::memcmp(head, &magic, sizeof head) == 0) {
                self->stream_.drop_tls();
                self->timer_.cancel();
                return self->fail(WireError::TlsRequired,
                                  "this cloud speaks only TLS (nsengine edge --tls-ca FILE, or "
                                  "--tls for the system's CAs)");
            }
            const auto t0 = Clock::now();
            self->stream_.async_handshake(
                asio::ssl::stream_base::server, [self, busy, t0](std::error_code ec2) {
                    if (!ec2)
                        self->srv_.metrics.tls_handshake(
                            std::chrono::duration<double>(Clock::now() - t0).count());
                    self->on_handshake(ec2, busy);
                });
        });
}

void Session::on_handshake(std::error_code ec, bool busy) {
    if (closed_) return;
    if (ec) {
        srv_.metrics.error("tls_handshake");
        const long verify = SSL_get_verify_result(stream_.ssl());
        const std::string why = ec.message();
        if (verify != X509_V_OK ||
            why.find("peer did not return a certificate") != std::string::npos)
            srv_.metrics.auth_failure("certificate");
        srv_.log(peer_ + " TLS handshake failed: " +
                 (verify != X509_V_OK
                      ? std::string("client certificate: ") + X509_verify_cert_error_string(verify)
                      : why));
        return close();
    }
    timer_.cancel();
    if (busy) return refuse_busy();
    read_header();
}

void Session::refuse_busy() {
    fail(WireError::Busy,
         "server busy: " + std::to_string(srv_.opts.max_clients) + " clients connected already");
}

void Session::fail(WireError code, const std::string& message, uint64_t id) {
    if (closed_) return;
    srv_.metrics.error(code);
    srv_.log(peer_ + " error " + wire_error_name(code) + ": " + message);
    auto frame = make_frame(MsgType::Error, id, encode_error({code, message}));
    write(frame, [self = shared_from_this()](bool sent) {
        if (sent) self->drain_and_close();
    });
}

void Session::refuse(const char* reason, WireError code, const std::string& message,
                     bool throttled) {
    srv_.metrics.auth_failure(reason);
    const auto delay =
        throttled ? srv_.throttle.failure(peer_ip_) : AuthThrottle::Clock::duration::zero();
    const int in_a_row = srv_.throttle.failures(peer_ip_);
    srv_.log(peer_ + " authentication failed (" + reason + ")" +
             (throttled && in_a_row > 1 ? ", " + std::to_string(in_a_row) + " in a row" : "") +
             (delay.count() > 0
                  ? "; answering in " +
                        std::to_string(
                            std::chrono::duration_cast<std::chrono::milliseconds>(delay).count()) +
                        " ms"
                  : ""));
    if (delay.count() <= 0) return fail(code, message);
    timer_.expires_after(delay);
    timer_.async_wait([self = shared_from_this(), code, message](std::error_code ec) {
        if (!ec && !self->closed_) self->fail(code, message);
    });
}

bool Session::authenticate(const nlohmann::json& hello) {
    if (srv_.opts.tokens) {
        const auto token = hello.find("token");
        if (token == hello.end() || !token->is_string()) {
            refuse("token_missing", WireError::Unauthorized,
                   "this cloud requires a token (nsengine edge --token-file FILE)", true);
            return false;
        }
        grant_ = srv_.opts.tokens->find(token->get<std::string>());
        if (!grant_) {
            refuse("token_unknown", WireError::Unauthorized, "the token was not accepted", true);
            return false;
        }
        srv_.throttle.success(peer_ip_);
    }
    const auto wanted = hello.find("models");
    if (grant_ && wanted != hello.end() && wanted->is_array())
        for (const auto& m : *wanted)
            if (m.is_string() && !grant_->allows(m.get<std::string>())) {
                refuse("model_forbidden", WireError::Forbidden,
                       "this token may not use model '" + m.get<std::string>().substr(0, 64) + "'",
                       false);
                return false;
            }
    return true;
}

void Session::close() {
    if (closed_) return;
    closed_ = true;
    timer_.cancel();
    std::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.socket().close(ec);
    srv_.metrics.connection_closed();
    srv_.sessions.erase(shared_from_this());
}

void Session::drain_and_close() {
    if (closed_) return;
    std::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    arm_close(0.5);
    drain(4u << 20);
}

void Session::reply(std::shared_ptr<Frame> frame, std::string log_line, RequestRecord record) {
    if (closed_) {
        srv_.metrics.request(record.served->model->name(), record.cut, "dropped", record.receive_s,
                             record.queue_s, record.compute_s);
        return;
    }
    write(frame, [self = shared_from_this(), log_line = std::move(log_line), record](bool sent) {
        self->srv_.metrics.request(record.served->model->name(), record.cut,
                                   sent ? "ok" : "dropped", record.receive_s, record.queue_s,
                                   record.compute_s, record.batch);
        if (!sent) return;
        self->srv_.log(log_line);
        self->read_header();
    });
}

void Session::write(std::shared_ptr<Frame> frame, std::function<void(bool)> then) {
    // Replies speak the edge's protocol version (bytes 4-5 of the header).
    frame->header[4] = uint8_t(peer_version_);
    frame->header[5] = uint8_t(peer_version_ >> 8);
    arm(srv_.opts.io_timeout_s, "reply not taken");
    asio::async_write(
        stream_, frame->buffers(),
        [self = shared_from_this(), frame, then = std::move(then)](std::error_code ec, size_t n) {
            if (ec || self->closed_) {
                self->close();
                return then(false);
            }
            self->srv_.metrics.sent(n);
            self->timer_.cancel();
            then(true);
        });
}

void Session::arm(double seconds, const char* what) {
    timer_.expires_after(
        std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds)));
    timer_.async_wait([self = shared_from_this(), what, seconds](std::error_code ec) {
        if (ec || self->closed_) return;
        self->fail(WireError::Timeout,
                   std::string(what) + " for more than " + std::to_string(int(seconds)) + " s");
    });
}

void Session::arm_close(double seconds) {
    timer_.expires_after(
        std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds)));
    timer_.async_wait([self = shared_from_this()](std::error_code ec) {
        if (!ec) self->close();
    });
}

void Session::drain(size_t budget) {
    auto scratch = std::make_shared<std::array<uint8_t, 16384>>();
    stream_.async_read_some(asio::buffer(*scratch), [self = shared_from_this(), scratch, budget](
                                                        std::error_code ec, size_t n) {
        if (ec || self->closed_ || n >= budget) return self->close();
        self->drain(budget - n);
    });
}

void Session::read_header() {
    if (closed_) return;
    arm(srv_.opts.idle_timeout_s, "idle");
    asio::async_read(
        stream_, asio::buffer(hdr_, kHeaderBytes),
        [self = shared_from_this()](std::error_code ec, size_t) { self->on_header(ec); });
}

void Session::on_header(std::error_code ec) {
    if (ec || closed_) return close();  // client gone (or we closed it)
    first_byte_ = Clock::now();
    header_ = decode_header(hdr_);
    try {
        check_header(header_, srv_.opts.max_message_bytes);
    } catch (const ProtocolError& e) {
        return fail(e.wire(), e.what(), header_.request_id);
    }
    peer_version_ = header_.version;
    size_ = size_t(header_.payload_bytes);
    // Reuse the last buffer unless a job or a reply still holds it.
    if (!payload_ || payload_.use_count() > 1 || capacity_ < size_) {
        payload_ = aligned_floats((size_ + sizeof(float) - 1) / sizeof(float));
        capacity_ = size_;
    }
    uint8_t* dst = reinterpret_cast<uint8_t*>(payload_.get());
    const size_t got = stream_.read_now(dst, size_);
    if (got == size_) return on_payload({});
    arm(srv_.opts.io_timeout_s, "message incomplete");
    asio::async_read(
        stream_, asio::buffer(dst + got, size_ - got),
        [self = shared_from_this()](std::error_code ec2, size_t) { self->on_payload(ec2); });
}

void Session::on_payload(std::error_code ec) {
    if (ec || closed_) return close();
    timer_.cancel();
    srv_.metrics.received(kHeaderBytes + size_);
    const uint64_t receive_us = to_micros(Clock::now() - first_byte_);
    const uint8_t* p = reinterpret_cast<const uint8_t*>(payload_.get());
    const uint64_t id = header_.request_id;
    try {
        if (!srv_.ready) {
            const int pct = srv_.ready_percent.load();
            throw ProtocolError(WireError::NotReady,
                                "the cloud is building its device profile (the deployment phase" +
                                    (pct >= 0 ? ", " + std::to_string(pct) + " % done" : "") +
                                    "); try again in a minute");
        }
        switch (MsgType(header_.type)) {
            case MsgType::Hello: {
                const auto doc = nlohmann::json::parse(decode_json(p, size_), nullptr, false);
                if (doc.is_discarded() || !doc.is_object())
                    throw ProtocolError(WireError::Malformed, "HELLO is not a JSON object");
                if (!authenticate(doc)) return;
                auto frame =
                    make_frame(MsgType::HelloAck, id, encode_json(srv_.hello(grant_).dump()));
                return write(frame, [self = shared_from_this()](bool sent) {
                    if (sent) self->read_header();
                });
            }
            case MsgType::Probe: {
                if (srv_.opts.tokens && !grant_)
                    return refuse("token_missing", WireError::Unauthorized,
                                  "send a HELLO with a token first", true);
                srv_.probes.fetch_add(1);
                std::vector<uint8_t> ack = encode_probe_ack(
                    {receive_us, size_, srv_.scheduler.load().backlog_us}, header_.version);
                const bool echo = header_.flags & kProbeEcho;
                auto frame = make_frame(MsgType::ProbeAck, id, std::move(ack), header_.flags);
                if (echo) {
                    frame->owned.push_back(payload_);
                    frame->blocks.emplace_back(payload_.get(), size_);
                    FrameHeader h = decode_header(frame->header);
                    h.payload_bytes = frame->head.size() + size_;
                    encode_header(h, frame->header);
                }
                return write(frame, [self = shared_from_this()](bool sent) {
                    if (sent) self->read_header();
                });
            }
            case MsgType::Infer: {
                if (srv_.opts.tokens && !grant_)
                    return refuse("token_missing", WireError::Unauthorized,
                                  "send a HELLO with a token first", true);
                InferRequest req = decode_infer(p, size_, header_.version);
                if (grant_ && !grant_->allows(req.model))
                    return refuse("model_forbidden", WireError::Forbidden,
                                  "this token may not use model '" + req.model + "'", false);
                const ServedModel* served = srv_.find(req.model);
                if (!served)
                    throw ProtocolError(WireError::UnknownModel,
                                        "model '" + req.model + "' is not served here");
                Job job;
                job.inputs = check_infer(*served, req, srv_.opts.max_message_bytes, &job.model);
                job.wire = std::move(req.tensors);
                job.version = header_.version;
                job.served = served;
                job.cut = req.cut;
                job.request_id = id;
                job.payload = payload_;
                job.in_bytes = size_;
                job.receive_us = receive_us;
                job.cost = predicted_cost(*served, req);
                job.queued_at = Clock::now();
                // The replies travel to the I/O thread with a reference to this session, so
                // a session is only ever destroyed on the thread that owns its socket.
                RequestRecord record{served, req.cut, receive_us / 1e6};
                job.done = [self = shared_from_this(), record](std::shared_ptr<Frame> frame,
                                                               std::string line, JobTimes times) {
                    RequestRecord r = record;
                    r.queue_s = times.queue_us / 1e6;
                    r.compute_s = times.compute_us / 1e6;
                    r.batch = times.batch;
                    asio::post(self->srv_.io, [self, frame, line = std::move(line), r] {
                        self->reply(frame, self->peer() + line, r);
                    });
                };
                job.failed = [self = shared_from_this(), id, record](WireError code,
                                                                     std::string message) {
                    asio::post(
                        self->srv_.io, [self, id, record, code, message = std::move(message)] {
                            self->srv_.metrics.request(record.served->model->name(), record.cut,
                                                       "failed", record.receive_s, 0, 0);
                            self->fail(code, message, id);
                        });
                };
                srv_.scheduler.enqueue(std::move(job));
                return;  // the reply resumes reading
            }
            default:
                throw ProtocolError(WireError::BadType, std::string("a client may not send ") +
                                                            msg_type_name(MsgType(header_.type)));
        }
    } catch (const ProtocolError& e) {
        fail(e.wire(), e.what(), id);
    }
}

}  // namespace nse::net
