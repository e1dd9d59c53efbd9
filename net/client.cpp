#include "net/client.h"

#include <asio.hpp>
#include <cstring>

namespace nse::net {

using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

struct CloudClient::Io {
    asio::io_context ctx;
    std::shared_ptr<asio::ssl::context> tls;  // null: plaintext
    std::unique_ptr<Stream> stream;           // the current connection

    // Runs the asynchronous operation started by `start` until it completes or `deadline`
    // passes; on timeout the socket is closed and Error(Timeout) thrown.
    template <typename Start>
    void run(Start start, Clock::time_point deadline, const std::string& what) {
        bool done = false;
        std::error_code err;
        start([&](std::error_code ec) {
            done = true;
            err = ec;
        });
        ctx.restart();
        while (!done && Clock::now() < deadline) ctx.run_one_until(deadline);
        if (!done) {
            std::error_code ec;
            stream->socket().close(ec);
            ctx.restart();
            ctx.run();  // let the cancelled operation finish
            throw Error(ErrorCode::Timeout, what + " timed out");
        }
        if (err)
            throw Error(ErrorCode::Network, what + ": " +
                                                (stream->tls() && is_tls_error(err)
                                                     ? explain_tls_error(stream->ssl(), err)
                                                     : err.message()));
    }
};

namespace {

Clock::time_point after(double seconds) {
    return Clock::now() +
           std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}
}  // namespace

CloudClient::CloudClient(ClientOptions options)
    : opts_(std::move(options)), io_(std::make_unique<Io>()) {
    if (opts_.tls.enabled) io_->tls = make_client_tls(opts_.tls);
    io_->stream = std::make_unique<Stream>(tcp::socket(io_->ctx), nullptr);
}

CloudClient::~CloudClient() { close(); }

void CloudClient::close() {
    std::error_code ec;
    io_->stream->socket().shutdown(tcp::socket::shutdown_both, ec);
    io_->stream->socket().close(ec);
    connected_ = false;
}

nlohmann::json CloudClient::connect(const nlohmann::json& hello) {
    close();
    const std::string where = opts_.host + ":" + std::to_string(opts_.port);
    std::error_code ec;
    auto addr = asio::ip::make_address(opts_.host, ec);
    tcp::endpoint ep;
    const auto deadline = after(opts_.connect_timeout_s);
    if (ec) {  // a host name: resolve it (bounded by the same deadline)
        tcp::resolver resolver(io_->ctx);
        tcp::resolver::results_type results;
        io_->run(
            [&](auto done) {
                resolver.async_resolve(opts_.host, std::to_string(opts_.port),
                                       [&, done](std::error_code e, tcp::resolver::results_type r) {
                                           results = r;
                                           done(e);
                                       });
            },
            deadline, "resolving " + opts_.host);
        ep = *results.begin();
    } else {
        ep = tcp::endpoint(addr, opts_.port);
    }
    // A fresh stream per connection: a TLS session is not reused after it was shut.
    io_->stream = std::make_unique<Stream>(tcp::socket(io_->ctx), io_->tls.get());
    Stream& stream = *io_->stream;
    io_->run([&](auto done) { stream.socket().async_connect(ep, done); }, deadline,
             "connecting to " + where);
    stream.socket().set_option(tcp::no_delay(true), ec);
    if (stream.tls()) {
        set_tls_peer_name(stream.ssl(),
                          opts_.tls.server_name.empty() ? opts_.host : opts_.tls.server_name);
        try {
            io_->run(
                [&](auto done) { stream.async_handshake(asio::ssl::stream_base::client, done); },
                deadline, "connecting to " + where);
        } catch (...) {
            close();
            throw;
        }
    }
    connected_ = true;
    peer_max_message_bytes_ = 0;
    Outgoing out;
    nlohmann::json greeting = hello;
    if (!opts_.token.empty()) greeting["token"] = opts_.token;
    out.head = encode_json(greeting.dump());
    FrameHeader reply;
    try {
        auto payload = exchange(MsgType::Hello, 0, 0, out, MsgType::HelloAck, reply,
                                after(opts_.connect_timeout_s), nullptr);
        auto doc = nlohmann::json::parse(
            decode_json(reinterpret_cast<const uint8_t*>(payload.get()), reply.payload_bytes),
            nullptr, false);
        if (doc.is_discarded() || !doc.is_object())
            throw Error(ErrorCode::Network, where + " sent a HELLO_ACK that is not a JSON object");
        const auto limit = doc.find("max_message_bytes");
        if (limit != doc.end() && limit->is_number_unsigned())
            peer_max_message_bytes_ = limit->get<uint64_t>();
        return doc;
    } catch (...) {
        close();
        throw;
    }
}

std::shared_ptr<float> CloudClient::exchange(MsgType type, uint64_t id, uint32_t flags,
                                             const Outgoing& out, MsgType expect,
                                             FrameHeader& reply, Clock::time_point deadline,
                                             double* send_ms) {
    NSE_CHECK(connected_, ErrorCode::Network, "not connected");
    // A message past the cloud's limit would only get ERROR too_large while still being sent,
    // and the write then fails with a reset ("Broken pipe"): say why before sending it.
    NSE_CHECK(!peer_max_message_bytes_ || out.payload_bytes() <= peer_max_message_bytes_,
              ErrorCode::Network, msg_type_name(type), " of ",
              (out.payload_bytes() + (1 << 20) - 1) >> 20, " MiB exceeds the cloud's limit of ",
              peer_max_message_bytes_ >> 20, " MiB per message (nsengine cloud --max-message-mb)");
    const auto t0 = Clock::now();
    FrameHeader h;
    h.type = uint16_t(type);
    h.flags = flags;
    h.request_id = id;
    h.payload_bytes = out.payload_bytes();
    uint8_t hdr[kHeaderBytes];
    encode_header(h, hdr);
    // Header, fixed fields and tensor bytes go out in one gathered write, straight from the
    // tensors' memory.
    std::vector<asio::const_buffer> bufs{asio::buffer(hdr, kHeaderBytes), asio::buffer(out.head)};
    for (size_t i = 0; i < out.data.size(); ++i) {
        bufs.push_back(asio::buffer(out.data[i], out.bytes[i]));
        if (const size_t pad = pad_after(out.bytes[i])) bufs.push_back(asio::buffer(kZeroPad, pad));
    }
    const std::string what =
        std::string(msg_type_name(type)) + " to " + opts_.host + ":" + std::to_string(opts_.port);
    try {
        io_->run(
            [&](auto done) {
                asio::async_write(*io_->stream, bufs,
                                  [done](std::error_code ec, size_t) { done(ec); });
            },
            deadline, "sending " + what);
        if (send_ms)
            *send_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
        uint8_t rh[kHeaderBytes];
        io_->run(
            [&](auto done) {
                asio::async_read(*io_->stream, asio::buffer(rh, kHeaderBytes),
                                 [done](std::error_code ec, size_t) { done(ec); });
            },
            deadline, "waiting for the reply to " + what);
        reply = decode_header(rh);
        check_header(reply, opts_.max_message_bytes);
        auto payload = aligned_floats((reply.payload_bytes + sizeof(float) - 1) / sizeof(float));
        uint8_t* dst = reinterpret_cast<uint8_t*>(payload.get());
        const size_t got = io_->stream->read_now(dst, reply.payload_bytes);
        if (got < reply.payload_bytes)
            io_->run(
                [&](auto done) {
                    asio::async_read(*io_->stream,
                                     asio::buffer(dst + got, reply.payload_bytes - got),
                                     [done](std::error_code ec, size_t) { done(ec); });
                },
                deadline, "reading the reply to " + what);
        const uint8_t* p = reinterpret_cast<const uint8_t*>(payload.get());
        if (MsgType(reply.type) == MsgType::Error) {
            ErrorReply e = decode_error(p, reply.payload_bytes);
            close();  // the cloud closes after an ERROR
            throw RemoteError(e.code, e.message);
        }
        if (MsgType(reply.type) != expect || reply.request_id != id)
            throw ProtocolError(WireError::BadType, std::string("expected ") +
                                                        msg_type_name(expect) + " for request " +
                                                        std::to_string(id) + ", got " +
                                                        msg_type_name(MsgType(reply.type)));
        return payload;
    } catch (const RemoteError&) {
        throw;
    } catch (const Error&) {
        close();
        throw;
    }
}

InferReply CloudClient::infer(const InferRequest& request, uint64_t request_id) {
    const auto t0 = Clock::now();
    InferReply r;
    FrameHeader reply;
    r.payload = exchange(MsgType::Infer, request_id, 0, encode_infer(request), MsgType::Result,
                         reply, after(opts_.request_timeout_s), &r.send_ms);
    try {
        r.result =
            decode_result(reinterpret_cast<const uint8_t*>(r.payload.get()), reply.payload_bytes);
    } catch (const Error&) {
        close();
        throw;
    }
    r.total_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    return r;
}

ProbeReply CloudClient::probe(size_t bytes, bool echo) {
    // The filler is one block of zeros, kept for the next probe (padded to kAlign on the wire).
    if (filler_bytes_ < bytes) {
        filler_ = aligned_floats((bytes + 3) / 4);
        std::memset(filler_.get(), 0, (bytes + 3) / 4 * 4);
        filler_bytes_ = bytes;
    }
    Outgoing out;
    out.data.push_back(filler_.get());
    out.bytes.push_back(bytes);
    const auto t0 = Clock::now();
    FrameHeader reply;
    auto payload = exchange(MsgType::Probe, 0, echo ? kProbeEcho : 0, out, MsgType::ProbeAck, reply,
                            after(opts_.request_timeout_s), nullptr);
    ProbeReply r;
    r.ack = decode_probe_ack(reinterpret_cast<const uint8_t*>(payload.get()), reply.payload_bytes,
                             reply.version);
    r.has_backlog = reply.version >= 4;
    r.total_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    return r;
}

}  // namespace nse::net
