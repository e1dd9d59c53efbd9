// The nsengine wire protocol: every message is a fixed 28-byte little-endian header followed by
// `payload_bytes` of payload. Payload codecs are pure functions on byte buffers so that the
// server, the client, the tests and the fuzzer share them. Tensor data never goes through a
// serialiser: a tensor section lists (name, dtype, shape, offset, bytes) and the raw bytes follow,
// each block 64-byte aligned, so the receiver's tensors are views of its receive buffer.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/tensor.h"
#include "net/wire_codec.h"

namespace nse::net {

constexpr uint32_t kMagic = 0x3145534e;  // bytes "NSE1"
// Version 2 added tensor encodings (net/wire_codec.h) and RESULT's decode time; version 3 INFER's
// node set (a partition of a DAG that is not a position); version 4 RESULT's batch (dynamic
// batching). A cloud still answers a version 1, 2 or 3 edge in its version.
constexpr uint16_t kProtocolVersion = 4;
constexpr uint16_t kMinProtocolVersion = 1;
constexpr size_t kHeaderBytes = 28;
constexpr size_t kAlign = 64;
constexpr int kMaxRank = 8;
constexpr uint32_t kMaxTensors = 64;
constexpr size_t kMaxName = 256;

enum class MsgType : uint16_t {
    Hello = 1,     // edge -> cloud: JSON
    HelloAck = 2,  // cloud -> edge: JSON (models with hashes, device, load, profile)
    Probe = 3,     // edge -> cloud: flags + filler bytes (bandwidth probe)
    ProbeAck = 4,  // cloud -> edge: receive timing (+ the bytes again when asked to echo)
    Infer = 5,     // edge -> cloud: model, hash, cut, live tensors
    Result = 6,    // cloud -> edge: timings, load, output tensors
    Error = 7,     // either way: code + message
};
const char* msg_type_name(MsgType type);
// "%016x" of a model file hash, as HELLO_ACK carries it.
std::string hash_hex(uint64_t hash);

#pragma pack(push, 1)
struct FrameHeader {
    uint32_t magic = kMagic;
    uint16_t version = kProtocolVersion;
    uint16_t type = 0;
    uint32_t flags = 0;
    uint64_t request_id = 0;
    uint64_t payload_bytes = 0;
};
#pragma pack(pop)
static_assert(sizeof(FrameHeader) == kHeaderBytes, "wire header must stay 28 bytes");

// Error codes carried by ERROR messages.
// Whole microseconds of a duration, as the protocol's timing fields (receive_us, ...) carry them.
inline uint64_t to_micros(std::chrono::steady_clock::duration d) {
    return uint64_t(std::chrono::duration_cast<std::chrono::microseconds>(d).count());
}

enum class WireError : uint16_t {
    BadMagic = 1,
    BadVersion = 2,
    BadType = 3,
    TooLarge = 4,
    Malformed = 5,
    UnknownModel = 6,
    HashMismatch = 7,
    BadCut = 8,
    BadTensors = 9,
    Busy = 10,
    Timeout = 11,
    Internal = 12,
    ShuttingDown = 13,
    NotReady = 14,      // listening, but still building what it needs to serve (its profile)
    Unauthorized = 15,  // no token, or a token the cloud does not know
    Forbidden = 16,     // the token may not use this model
    TlsRequired = 17,   // a plaintext frame reached a cloud that speaks only TLS
};
const char* wire_error_name(WireError code);

// A protocol violation: what the peer did wrong, with the code to send back.
class ProtocolError : public Error {
  public:
    ProtocolError(WireError wire, const std::string& message)
        : Error(ErrorCode::Network, message), wire_(wire) {}
    WireError wire() const { return wire_; }

  private:
    WireError wire_;
};

void encode_header(const FrameHeader& h, uint8_t out[kHeaderBytes]);
FrameHeader decode_header(const uint8_t in[kHeaderBytes]);
// Throws ProtocolError unless magic, version (kMinProtocolVersion..kProtocolVersion) and type are
// known and the payload fits the limit.
void check_header(const FrameHeader& h, uint64_t max_payload);

// Little-endian writer and bounds-checked reader.
class Writer {
  public:
    std::vector<uint8_t> buf;
    void u8(uint8_t v) { buf.push_back(v); }
    void u16(uint16_t v);
    void u32(uint32_t v);
    void u64(uint64_t v);
    void str(const std::string& s);  // u16 length + bytes
    void pad_to(size_t multiple);
};

class Reader {
  public:
    Reader(const uint8_t* data, size_t size) : p_(data), n_(size) {}
    uint8_t u8();
    uint16_t u16();
    uint32_t u32();
    uint64_t u64();
    std::string str(size_t max_len);
    size_t pos() const { return pos_; }
    size_t size() const { return n_; }

  private:
    const uint8_t* need(size_t k);
    const uint8_t* p_;
    size_t n_, pos_ = 0;
};

// A tensor as it travels: name, shape and either fp32 values (`data`) or, for any other
// encoding, its encoded bytes. On receipt the pointers point into the payload.
struct WireTensor {
    std::string name;
    Shape shape;
    const float* data = nullptr;  // fp32 raw
    WireEncoding encoding;        // fp32 raw unless set
    const uint8_t* encoded = nullptr;
    size_t encoded_bytes = 0;
    // Bytes on the wire.
    size_t bytes() const {
        return encoding.raw_f32() ? static_cast<size_t>(numel(shape)) * sizeof(float)
                                  : encoded_bytes;
    }
    const void* wire_data() const {
        return encoding.raw_f32() ? static_cast<const void*>(data) : encoded;
    }
};

// Zero bytes that follow a tensor data block up to the next multiple of kAlign.
inline size_t pad_after(size_t bytes) { return (kAlign - bytes % kAlign) % kAlign; }
extern const uint8_t kZeroPad[kAlign];

// An outgoing payload: fixed bytes, then tensor data blocks sent from the tensors' memory.
struct Outgoing {
    std::vector<uint8_t> head;  // fixed fields + tensor descriptors, padded to kAlign
    std::vector<const void*> data;
    std::vector<size_t> bytes;  // each data block is followed by pad_after(bytes) zeros
    size_t payload_bytes() const;
    // The whole payload in one buffer (a copy: for tests and tools, not the data path).
    std::vector<uint8_t> flatten() const;
};

// Appends a tensor section to `w` (whose bytes precede it in the payload) and returns the
// outgoing payload; the tensor bytes are not copied.
Outgoing finish_with_tensors(Writer w, const std::vector<WireTensor>& tensors);
// Reads a tensor section; every offset, size and shape is checked against the payload.
std::vector<WireTensor> read_tensors(Reader& r, const uint8_t* payload, size_t payload_size);

// ---- messages ----------------------------------------------------------------------------
// Most nodes a version 3 INFER's node set may describe.
constexpr uint32_t kMaxNodeBits = 1u << 16;

struct InferRequest {
    std::string model;
    uint64_t model_hash = 0;
    uint32_t cut = 0;
    // Version 3: the nodes the edge ran, one bit per node of the model file's order, LSB first
    // (partition/dag_cut.h pack_nodes), when they are not the position `cut` (then `cut` is their
    // count); node_bits 0 and no bytes for a position.
    uint32_t node_bits = 0;
    std::vector<uint8_t> nodes;
    std::vector<WireTensor> tensors;
};
// `version`: the protocol version the frame is sent in (version 1 and 2 have no node set).
Outgoing encode_infer(const InferRequest& req, uint16_t version = kProtocolVersion);
InferRequest decode_infer(const uint8_t* payload, size_t size, uint16_t version = kProtocolVersion);

struct ResultReply {
    uint64_t receive_us = 0;  // first to last payload byte of the request, at the cloud
    uint64_t queue_us = 0;    // waiting for a worker
    uint64_t compute_us = 0;  // running the suffix
    uint32_t queued = 0;      // load after this request: requests waiting
    uint32_t running = 0;     //   and running
    uint64_t backlog_us = 0;  // predicted wait before a new request would start
    uint64_t decode_us = 0;   // decoding the request's encoded tensors (version 2 on)
    uint32_t batch = 1;       // images computed together with this request's (version 4 on)
    std::vector<WireTensor> tensors;
};
// `version`: the protocol version of the peer (version 1 has no decode_us, 1-3 no batch).
Outgoing encode_result(const ResultReply& res, uint16_t version = kProtocolVersion);
ResultReply decode_result(const uint8_t* payload, size_t size, uint16_t version = kProtocolVersion);

struct ErrorReply {
    WireError code = WireError::Internal;
    std::string message;
};
std::vector<uint8_t> encode_error(const ErrorReply& e);
ErrorReply decode_error(const uint8_t* payload, size_t size);

// JSON control messages (HELLO, HELLO_ACK) travel as a u32 length + UTF-8 text.
std::vector<uint8_t> encode_json(const std::string& text);
std::string decode_json(const uint8_t* payload, size_t size);

struct ProbeAck {
    uint64_t receive_us = 0;
    uint64_t bytes = 0;
    // Version 4: the cloud's predicted wait for a new request (as RESULT's), so an edge that
    // keeps its requests local still sees the cloud's load.
    uint64_t backlog_us = 0;
};
constexpr uint32_t kProbeEcho = 1;  // PROBE flag: send the payload back in the PROBE_ACK
std::vector<uint8_t> encode_probe_ack(const ProbeAck& a, uint16_t version = kProtocolVersion);
ProbeAck decode_probe_ack(const uint8_t* payload, size_t size, uint16_t version = kProtocolVersion);

}  // namespace nse::net
