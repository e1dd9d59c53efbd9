// One outgoing frame of the cloud: header, payload head and the tensor blocks it points at, owned
// until the write completes.
#pragma once

#include <asio.hpp>
#include <cstdint>
#include <memory>
#include <vector>

#include "net/protocol.h"

namespace nse::net {

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

inline std::shared_ptr<Frame> make_frame(MsgType type, uint64_t id, std::vector<uint8_t> payload,
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

}  // namespace nse::net
