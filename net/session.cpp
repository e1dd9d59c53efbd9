#include "net/session.h"

#include <array>
#include <chrono>

namespace nse::net {

using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

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

nlohmann::json ServerState::hello() {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& m : models)
        list.push_back(
            {{"name", m.model->name()}, {"hash", hash_hex(m.hash)}, {"nodes", m.model->size()}});
    const Scheduler::Load l = scheduler.load();
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

Session::Session(ServerState& srv, tcp::socket sock)
    : srv_(srv), sock_(std::move(sock)), timer_(srv.io) {
    std::error_code ec;
    auto ep = sock_.remote_endpoint(ec);
    peer_ = ec ? "?" : ep.address().to_string() + ":" + std::to_string(ep.port());
    sock_.set_option(tcp::no_delay(true), ec);
}

void Session::fail(WireError code, const std::string& message, uint64_t id) {
    if (closed_) return;
    srv_.log(peer_ + " error " + wire_error_name(code) + ": " + message);
    auto frame = make_frame(MsgType::Error, id, encode_error({code, message}));
    write(frame, [self = shared_from_this()] { self->drain_and_close(); });
}

void Session::close() {
    if (closed_) return;
    closed_ = true;
    timer_.cancel();
    std::error_code ec;
    sock_.shutdown(tcp::socket::shutdown_both, ec);
    sock_.close(ec);
    srv_.sessions.erase(shared_from_this());
}

void Session::drain_and_close() {
    if (closed_) return;
    std::error_code ec;
    sock_.shutdown(tcp::socket::shutdown_send, ec);
    arm_close(0.5);
    drain(4u << 20);
}

void Session::reply(std::shared_ptr<Frame> frame, std::string log_line) {
    if (closed_) return;
    write(frame, [self = shared_from_this(), log_line = std::move(log_line)] {
        self->srv_.log(log_line);
        self->read_header();
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
    sock_.async_read_some(asio::buffer(*scratch), [self = shared_from_this(), scratch, budget](
                                                      std::error_code ec, size_t n) {
        if (ec || self->closed_ || n >= budget) return self->close();
        self->drain(budget - n);
    });
}

void Session::read_header() {
    if (closed_) return;
    arm(srv_.opts.idle_timeout_s, "idle");
    asio::async_read(
        sock_, asio::buffer(hdr_, kHeaderBytes),
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

void Session::on_payload(std::error_code ec) {
    if (ec || closed_) return close();
    timer_.cancel();
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
                decode_json(p, size_);
                auto frame = make_frame(MsgType::HelloAck, id, encode_json(srv_.hello().dump()));
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
                job.served = served;
                job.cut = req.cut;
                job.request_id = id;
                job.payload = payload_;
                job.in_bytes = size_;
                job.receive_us = receive_us;
                job.predicted_ms = served->suffix_ms.empty() ? 0 : served->suffix_ms[req.cut];
                job.queued_at = Clock::now();
                // The replies travel to the I/O thread with a reference to this session, so
                // a session is only ever destroyed on the thread that owns its socket.
                job.done = [self = shared_from_this()](std::shared_ptr<Frame> frame,
                                                       std::string line) {
                    asio::post(self->srv_.io, [self, frame, line = std::move(line)] {
                        self->reply(frame, self->peer() + line);
                    });
                };
                job.failed = [self = shared_from_this(), id](std::string message) {
                    asio::post(self->srv_.io, [self, id, message = std::move(message)] {
                        self->fail(WireError::Internal, message, id);
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
