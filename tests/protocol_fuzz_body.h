// One fuzz input: bytes as if read from a socket. Decodes the header and, by message type, the
// payload; decoded INFERs are checked against a small model and their encoded tensors decoded. Only
// nse::Error may escape (callers catch it); anything else, or a crash, is a bug. Shared by the
// libFuzzer target and the corpus replay test.
#pragma once

#include <cstring>

#include "net/protocol.h"
#include "net/server.h"

namespace nse::test {

inline void fuzz_one(const uint8_t* data, size_t size, const net::ServedModel* served) {
    using namespace net;
    if (size < kHeaderBytes) return;
    FrameHeader h = decode_header(data);
    check_header(h, 1 << 20);
    const size_t n = std::min<size_t>(size - kHeaderBytes, h.payload_bytes);
    // Payloads are read into 64-byte-aligned buffers, as the server does.
    auto buf = aligned_floats((n + 3) / 4 + 1);
    std::memcpy(buf.get(), data + kHeaderBytes, n);
    const uint8_t* p = reinterpret_cast<const uint8_t*>(buf.get());
    switch (MsgType(h.type)) {
        case MsgType::Infer: {
            InferRequest req = decode_infer(p, n);
            if (served) {
                auto views = check_infer(*served, req, 1 << 20);
                decode_infer_inputs(req.tensors, views);
                for (const auto& v : views) (void)v.data()[v.numel() - 1];  // in bounds
            }
            break;
        }
        case MsgType::Result:
            decode_result(p, n);
            break;
        case MsgType::Error:
            decode_error(p, n);
            break;
        case MsgType::Hello:
        case MsgType::HelloAck:
            decode_json(p, n);
            break;
        case MsgType::ProbeAck:
            decode_probe_ack(p, n);
            break;
        case MsgType::Probe:
            break;
    }
}

}  // namespace nse::test
