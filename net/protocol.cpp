#include "net/protocol.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <limits>

// Integers are written byte by byte (little-endian on every host); tensor data go as the host's
// floats, so the hosts must agree on that format: x86-64 and aarch64 Linux both store IEEE-754
// binary32 little-endian (scripts/test-arm64.sh runs an emulated ARM edge against an x86 cloud).
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "tensor data go on the wire as the host's floats: a big-endian host needs swaps");
static_assert(std::numeric_limits<float>::is_iec559 && sizeof(float) == 4,
              "the wire's floats are IEEE-754 binary32");

namespace nse::net {

namespace {
size_t align_up(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }
}  // namespace

const char* msg_type_name(MsgType type) {
    switch (type) {
        case MsgType::Hello:
            return "HELLO";
        case MsgType::HelloAck:
            return "HELLO_ACK";
        case MsgType::Probe:
            return "PROBE";
        case MsgType::ProbeAck:
            return "PROBE_ACK";
        case MsgType::Infer:
            return "INFER";
        case MsgType::Result:
            return "RESULT";
        case MsgType::Error:
            return "ERROR";
    }
    return "?";
}

std::string hash_hex(uint64_t hash) {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(hash));
    return buf;
}

const char* wire_error_name(WireError code) {
    switch (code) {
        case WireError::BadMagic:
            return "bad_magic";
        case WireError::BadVersion:
            return "bad_version";
        case WireError::BadType:
            return "bad_type";
        case WireError::TooLarge:
            return "too_large";
        case WireError::Malformed:
            return "malformed";
        case WireError::UnknownModel:
            return "unknown_model";
        case WireError::HashMismatch:
            return "hash_mismatch";
        case WireError::BadCut:
            return "bad_cut";
        case WireError::BadTensors:
            return "bad_tensors";
        case WireError::Busy:
            return "busy";
        case WireError::Timeout:
            return "timeout";
        case WireError::Internal:
            return "internal";
        case WireError::NotReady:
            return "not_ready";
        case WireError::ShuttingDown:
            return "shutting_down";
        case WireError::Unauthorized:
            return "unauthorized";
        case WireError::Forbidden:
            return "forbidden";
        case WireError::TlsRequired:
            return "tls_required";
    }
    return "unknown";
}

void Writer::u16(uint16_t v) {
    for (int i = 0; i < 2; ++i) buf.push_back(uint8_t(v >> (8 * i)));
}
void Writer::u32(uint32_t v) {
    for (int i = 0; i < 4; ++i) buf.push_back(uint8_t(v >> (8 * i)));
}
void Writer::u64(uint64_t v) {
    for (int i = 0; i < 8; ++i) buf.push_back(uint8_t(v >> (8 * i)));
}
void Writer::str(const std::string& s) {
    NSE_ASSERT(s.size() <= 0xffff);
    u16(uint16_t(s.size()));
    buf.insert(buf.end(), s.begin(), s.end());
}
void Writer::pad_to(size_t multiple) {
    while (buf.size() % multiple) buf.push_back(0);
}

const uint8_t* Reader::need(size_t k) {
    if (k > n_ - pos_)
        throw ProtocolError(WireError::Malformed, "message truncated: needs " +
                                                      std::to_string(pos_ + k) + " bytes, has " +
                                                      std::to_string(n_));
    const uint8_t* at = p_ + pos_;
    pos_ += k;
    return at;
}
uint8_t Reader::u8() { return *need(1); }
uint16_t Reader::u16() {
    const uint8_t* b = need(2);
    return uint16_t(b[0] | (b[1] << 8));
}
uint32_t Reader::u32() {
    const uint8_t* b = need(4);
    uint32_t v = 0;
    for (int i = 3; i >= 0; --i) v = (v << 8) | b[i];
    return v;
}
uint64_t Reader::u64() {
    const uint8_t* b = need(8);
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | b[i];
    return v;
}
std::string Reader::str(size_t max_len) {
    const uint16_t len = u16();
    if (len > max_len)
        throw ProtocolError(WireError::Malformed, "string of " + std::to_string(len) +
                                                      " bytes exceeds " + std::to_string(max_len));
    const uint8_t* b = need(len);
    return std::string(reinterpret_cast<const char*>(b), len);
}

void encode_header(const FrameHeader& h, uint8_t out[kHeaderBytes]) {
    Writer w;
    w.u32(h.magic);
    w.u16(h.version);
    w.u16(h.type);
    w.u32(h.flags);
    w.u64(h.request_id);
    w.u64(h.payload_bytes);
    std::memcpy(out, w.buf.data(), kHeaderBytes);
}

FrameHeader decode_header(const uint8_t in[kHeaderBytes]) {
    Reader r(in, kHeaderBytes);
    FrameHeader h;
    h.magic = r.u32();
    h.version = r.u16();
    h.type = r.u16();
    h.flags = r.u32();
    h.request_id = r.u64();
    h.payload_bytes = r.u64();
    return h;
}

void check_header(const FrameHeader& h, uint64_t max_payload) {
    if (h.magic != kMagic)
        throw ProtocolError(WireError::BadMagic, "bad magic: not an nsengine peer");
    if (h.version < kMinProtocolVersion || h.version > kProtocolVersion)
        throw ProtocolError(WireError::BadVersion, "protocol version " + std::to_string(h.version) +
                                                       " is not supported (this side speaks " +
                                                       std::to_string(kMinProtocolVersion) +
                                                       " to " + std::to_string(kProtocolVersion) +
                                                       ")");
    if (h.type < uint16_t(MsgType::Hello) || h.type > uint16_t(MsgType::Error))
        throw ProtocolError(WireError::BadType, "unknown message type " + std::to_string(h.type));
    if (h.payload_bytes > max_payload)
        throw ProtocolError(WireError::TooLarge, "message of " + std::to_string(h.payload_bytes) +
                                                     " bytes exceeds the limit of " +
                                                     std::to_string(max_payload));
}

const uint8_t kZeroPad[kAlign] = {};

size_t Outgoing::payload_bytes() const {
    size_t n = head.size();
    for (size_t b : bytes) n += align_up(b);
    return n;
}

std::vector<uint8_t> Outgoing::flatten() const {
    std::vector<uint8_t> out = head;
    for (size_t i = 0; i < data.size(); ++i) {
        const uint8_t* d = reinterpret_cast<const uint8_t*>(data[i]);
        out.insert(out.end(), d, d + bytes[i]);
        out.resize(out.size() + pad_after(bytes[i]), 0);
    }
    return out;
}

Outgoing finish_with_tensors(Writer w, const std::vector<WireTensor>& tensors) {
    NSE_ASSERT(tensors.size() <= kMaxTensors);
    w.u32(uint32_t(tensors.size()));
    std::vector<size_t> offset_slots;
    for (const auto& t : tensors) {
        NSE_ASSERT(t.shape.size() <= size_t(kMaxRank) && t.name.size() <= kMaxName);
        w.str(t.name);
        w.u8(t.encoding.code());
        w.u8(uint8_t(t.shape.size()));
        for (int64_t d : t.shape) w.u64(uint64_t(d));
        offset_slots.push_back(w.buf.size());
        w.u64(0);  // offset, filled below
        w.u64(t.bytes());
    }
    w.pad_to(kAlign);
    Outgoing out;
    size_t offset = w.buf.size();
    for (size_t i = 0; i < tensors.size(); ++i) {
        for (int b = 0; b < 8; ++b)
            w.buf[offset_slots[i] + b] = uint8_t(uint64_t(offset) >> (8 * b));
        out.data.push_back(tensors[i].wire_data());
        out.bytes.push_back(tensors[i].bytes());
        offset += align_up(tensors[i].bytes());
    }
    out.head = std::move(w.buf);
    return out;
}

std::vector<WireTensor> read_tensors(Reader& r, const uint8_t* payload, size_t payload_size) {
    const uint32_t count = r.u32();
    if (count > kMaxTensors)
        throw ProtocolError(WireError::BadTensors, "message lists " + std::to_string(count) +
                                                       " tensors; at most " +
                                                       std::to_string(kMaxTensors) + " allowed");
    std::vector<WireTensor> out;
    std::vector<std::pair<uint64_t, uint64_t>> ranges;
    for (uint32_t i = 0; i < count; ++i) {
        WireTensor t;
        t.name = r.str(kMaxName);
        t.encoding = encoding_from_code(r.u8());
        const uint8_t rank = r.u8();
        if (rank < 1 || rank > kMaxRank)
            throw ProtocolError(WireError::BadTensors,
                                "tensor '" + t.name + "' has rank " + std::to_string(rank));
        uint64_t elems = 1;
        for (int d = 0; d < rank; ++d) {
            const uint64_t dim = r.u64();
            if (dim < 1 || dim > (uint64_t(1) << 32) || elems > (uint64_t(1) << 40) / dim)
                throw ProtocolError(
                    WireError::BadTensors,
                    "tensor '" + t.name + "' has an absurd dimension " + std::to_string(dim));
            elems *= dim;
            t.shape.push_back(int64_t(dim));
        }
        const uint64_t offset = r.u64(), bytes = r.u64();
        // A plain format has an exact size; a coded one (or JPEG) is checked when it is decoded,
        // against the receiver's own shape (wire_codec.h).
        const uint64_t exact =
            t.encoding.fixed_size() ? uint64_t(format_bytes(t.shape, t.encoding.format)) : bytes;
        if (bytes != exact)
            throw ProtocolError(WireError::BadTensors,
                                "tensor '" + t.name + "' declares " + std::to_string(bytes) +
                                    " bytes but " + t.encoding.name() + " of its shape needs " +
                                    std::to_string(exact));
        if (offset % kAlign != 0 || offset > payload_size || bytes > payload_size - offset)
            throw ProtocolError(WireError::BadTensors,
                                "tensor '" + t.name + "' lies outside the message or is unaligned");
        ranges.emplace_back(offset, offset + bytes);
        if (t.encoding.raw_f32()) {
            t.data = reinterpret_cast<const float*>(payload + offset);
        } else {
            t.encoded = payload + offset;
            t.encoded_bytes = size_t(bytes);
        }
        out.push_back(std::move(t));
    }
    // Data must start after the descriptors and blocks must not overlap.
    std::sort(ranges.begin(), ranges.end());
    for (size_t i = 0; i < ranges.size(); ++i) {
        const uint64_t floor = i ? ranges[i - 1].second : r.pos();
        if (ranges[i].first < floor)
            throw ProtocolError(WireError::BadTensors, "tensor data blocks overlap");
    }
    return out;
}

Outgoing encode_infer(const InferRequest& req, uint16_t version) {
    Writer w;
    w.str(req.model);
    w.u64(req.model_hash);
    w.u32(req.cut);
    if (version >= 3) {
        NSE_CHECK(
            req.nodes.size() == (size_t(req.node_bits) + 7) / 8 && req.node_bits <= kMaxNodeBits,
            ErrorCode::InvalidArgument, "a node set of ", req.node_bits, " bits in ",
            req.nodes.size(), " bytes");
        w.u32(req.node_bits);
        for (uint8_t b : req.nodes) w.u8(b);
    } else {
        NSE_CHECK(req.node_bits == 0, ErrorCode::InvalidArgument, "protocol version ", version,
                  " carries no node set");
    }
    return finish_with_tensors(std::move(w), req.tensors);
}

InferRequest decode_infer(const uint8_t* payload, size_t size, uint16_t version) {
    Reader r(payload, size);
    InferRequest req;
    req.model = r.str(kMaxName);
    req.model_hash = r.u64();
    req.cut = r.u32();
    if (version >= 3) {
        req.node_bits = r.u32();
        if (req.node_bits > kMaxNodeBits)
            throw ProtocolError(WireError::Malformed,
                                "a node set of " + std::to_string(req.node_bits) +
                                    " nodes (at most " + std::to_string(kMaxNodeBits) + ")");
        req.nodes.resize((size_t(req.node_bits) + 7) / 8);
        for (uint8_t& b : req.nodes) b = r.u8();
    }
    req.tensors = read_tensors(r, payload, size);
    return req;
}

Outgoing encode_result(const ResultReply& res, uint16_t version) {
    Writer w;
    w.u64(res.receive_us);
    w.u64(res.queue_us);
    w.u64(res.compute_us);
    w.u32(res.queued);
    w.u32(res.running);
    w.u64(res.backlog_us);
    if (version >= 2) w.u64(res.decode_us);
    if (version >= 4) w.u32(res.batch);
    return finish_with_tensors(std::move(w), res.tensors);
}

ResultReply decode_result(const uint8_t* payload, size_t size, uint16_t version) {
    Reader r(payload, size);
    ResultReply res;
    res.receive_us = r.u64();
    res.queue_us = r.u64();
    res.compute_us = r.u64();
    res.queued = r.u32();
    res.running = r.u32();
    res.backlog_us = r.u64();
    if (version >= 2) res.decode_us = r.u64();
    if (version >= 4) res.batch = r.u32();
    res.tensors = read_tensors(r, payload, size);
    return res;
}

std::vector<uint8_t> encode_error(const ErrorReply& e) {
    Writer w;
    w.u16(uint16_t(e.code));
    w.str(e.message.substr(0, 4000));
    return w.buf;
}

ErrorReply decode_error(const uint8_t* payload, size_t size) {
    Reader r(payload, size);
    ErrorReply e;
    e.code = WireError(r.u16());
    e.message = r.str(4000);
    return e;
}

std::vector<uint8_t> encode_json(const std::string& text) {
    Writer w;
    w.u32(uint32_t(text.size()));
    w.buf.insert(w.buf.end(), text.begin(), text.end());
    return w.buf;
}

std::string decode_json(const uint8_t* payload, size_t size) {
    Reader r(payload, size);
    const uint32_t len = r.u32();
    if (len != size - 4)
        throw ProtocolError(WireError::Malformed,
                            "JSON length " + std::to_string(len) + " does not match the message");
    return std::string(reinterpret_cast<const char*>(payload + 4), len);
}

std::vector<uint8_t> encode_probe_ack(const ProbeAck& a, uint16_t version) {
    Writer w;
    w.u64(a.receive_us);
    w.u64(a.bytes);
    if (version >= 4) w.u64(a.backlog_us);
    return w.buf;
}

ProbeAck decode_probe_ack(const uint8_t* payload, size_t size, uint16_t version) {
    Reader r(payload, size);
    ProbeAck a;
    a.receive_us = r.u64();
    a.bytes = r.u64();
    if (version >= 4) a.backlog_us = r.u64();
    return a;
}

}  // namespace nse::net
