// Wire protocol codecs: round trips, every truncation, and a replayed corpus of mutated messages
// that must only ever produce nse::Error.
#include <random>

#include "tests/model_builder.h"
#include "tests/protocol_fuzz_body.h"

namespace nse::test {

using namespace net;

namespace {
std::vector<uint8_t> frame_bytes(MsgType type, const Outgoing& out, uint64_t id = 7) {
    FrameHeader h;
    h.type = uint16_t(type);
    h.request_id = id;
    h.payload_bytes = out.payload_bytes();
    std::vector<uint8_t> bytes(kHeaderBytes);
    encode_header(h, bytes.data());
    const std::vector<uint8_t> payload = out.flatten();
    bytes.insert(bytes.end(), payload.begin(), payload.end());
    return bytes;
}

struct Fixture {
    std::shared_ptr<const Model> model = small_dag().load("proto_dag.safetensors");
    ServedModel served{model, 42, {}, {}, std::make_shared<PartitionedModels>(model)};
    Tensor x = filled({1, 3, 8, 8});
    Tensor a = filled({1, 4, 8, 8}, 0.5f), b = filled({1, 4, 8, 8}, -0.5f);
    InferRequest request(uint32_t cut = 2) {
        InferRequest r;
        r.model = "synthetic";
        r.model_hash = 42;
        r.cut = cut;
        r.tensors = {{"a", a.shape(), a.data()}, {"b", b.shape(), b.data()}};
        return r;
    }
};
}  // namespace

TEST(Protocol, HeaderIsPackedLittleEndian) {
    FrameHeader h;
    h.type = uint16_t(MsgType::Infer);
    h.request_id = 0x0102030405060708ull;
    h.payload_bytes = 300;
    uint8_t b[kHeaderBytes];
    encode_header(h, b);
    EXPECT_EQ(std::string(reinterpret_cast<char*>(b), 4), "NSE1");
    EXPECT_EQ(b[8], 0);  // flags
    EXPECT_EQ(b[12], 0x08);
    EXPECT_EQ(b[20], 300 & 0xff);
    FrameHeader d = decode_header(b);
    EXPECT_EQ(d.request_id, h.request_id);
    EXPECT_EQ(d.payload_bytes, 300u);
    EXPECT_NO_THROW(check_header(d, 1000));
}

TEST(Protocol, HeaderChecks) {
    FrameHeader h;
    h.type = uint16_t(MsgType::Hello);
    h.magic = 0x12345678;
    expect_error([&] { check_header(h, 100); }, "bad magic");
    h.magic = kMagic;
    h.version = 9;
    expect_error([&] { check_header(h, 100); }, "protocol version 9");
    h.version = kProtocolVersion;
    h.type = 99;
    expect_error([&] { check_header(h, 100); }, "unknown message type 99");
    h.type = 1;
    h.payload_bytes = 101;
    expect_error([&] { check_header(h, 100); }, "exceeds the limit");
}

TEST(Protocol, InferRoundTripKeepsTensorBytesAligned) {
    Fixture f;
    auto bytes = frame_bytes(MsgType::Infer, encode_infer(f.request()));
    auto buf = aligned_floats(bytes.size() / 4 + 1);
    std::memcpy(buf.get(), bytes.data() + kHeaderBytes, bytes.size() - kHeaderBytes);
    const uint8_t* p = reinterpret_cast<const uint8_t*>(buf.get());
    InferRequest d = decode_infer(p, bytes.size() - kHeaderBytes);
    EXPECT_EQ(d.model, "synthetic");
    EXPECT_EQ(d.cut, 2u);
    ASSERT_EQ(d.tensors.size(), 2u);
    EXPECT_EQ(d.tensors[1].name, "b");
    EXPECT_EQ(d.tensors[1].shape, f.b.shape());
    EXPECT_EQ(reinterpret_cast<uintptr_t>(d.tensors[0].data) % kAlign, 0u);
    EXPECT_EQ(0, std::memcmp(d.tensors[1].data, f.b.data(), f.b.bytes()));
    EXPECT_EQ(check_infer(f.served, d).size(), 2u);
}

TEST(Protocol, CheckInferRejectsMismatches) {
    Fixture f;
    InferRequest r = f.request();
    r.model_hash = 43;
    expect_error([&] { check_infer(f.served, r); }, "differs");
    r = f.request(99);
    expect_error([&] { check_infer(f.served, r); }, "cut 99 is out of range");
    r = f.request(1);
    expect_error([&] { check_infer(f.served, r); }, "has 1 live tensor(s), got 2");
    r = f.request();
    r.tensors[1].name = "c";
    expect_error([&] { check_infer(f.served, r); }, "expects 'b'");
    r = f.request();
    r.tensors[0].shape = {1, 4, 8, 7};
    expect_error([&] { check_infer(f.served, r); }, "expected [1, 4, 8, 8]");
}

TEST(Protocol, NodeSetsTravelInVersion3AndAreChecked) {
    Fixture f;
    const int n = f.model->size();
    InferRequest r = f.request();
    std::vector<bool> edge(size_t(n), false);
    edge[0] = edge[1] = true;  // nodes a, b: the position 2 as a node set
    r.node_bits = uint32_t(n);
    r.nodes = pack_nodes(edge);
    auto bytes = frame_bytes(MsgType::Infer, encode_infer(r));
    auto buf = aligned_floats(bytes.size() / 4 + 1);
    std::memcpy(buf.get(), bytes.data() + kHeaderBytes, bytes.size() - kHeaderBytes);
    const uint8_t* p = reinterpret_cast<const uint8_t*>(buf.get());
    InferRequest d = decode_infer(p, bytes.size() - kHeaderBytes);
    EXPECT_EQ(d.node_bits, uint32_t(n));
    EXPECT_EQ(d.nodes, r.nodes);
    std::shared_ptr<const Model> runs;
    EXPECT_EQ(check_infer(f.served, d, uint64_t(-1), &runs).size(), 2u);
    EXPECT_EQ(runs, f.model);  // a position runs on the served model itself
    // Version 2 has no node set: one cannot be sent in it, and its INFERs decode without one.
    EXPECT_THROW(encode_infer(r, 2), Error);
    InferRequest plain = f.request();
    const std::vector<uint8_t> v2 = encode_infer(plain, 2).flatten();
    std::memcpy(buf.get(), v2.data(), v2.size());
    EXPECT_EQ(decode_infer(p, v2.size(), 2).node_bits, 0u);
    EXPECT_EQ(decode_infer(p, v2.size(), 2).tensors.size(), 2u);

    InferRequest bad = r;
    bad.node_bits = uint32_t(n - 1);
    expect_error([&] { check_infer(f.served, bad); }, "a node set of 7 nodes for a model of 8");
    bad = r;
    bad.cut = 1;
    expect_error([&] { check_infer(f.served, bad); }, "cut 1 with a node set of 2 nodes");
    std::vector<bool> open(size_t(n), false);
    open[1] = true;  // b without a, which it reads
    bad = r;
    bad.cut = 1;
    bad.nodes = pack_nodes(open);
    expect_error([&] { check_infer(f.served, bad); }, "every node they read from");
    bad = r;
    bad.nodes.back() |= 0x80;  // no node 8 (the bits fill one byte exactly: a ninth byte bit)
    bad.node_bits = uint32_t(n);
    bad.nodes.push_back(1);
    expect_error([&] { check_infer(f.served, bad); }, "node set");
    // A declared node count past the limit is refused before anything is read for it.
    Writer w;
    w.str("synthetic");
    w.u64(42);
    w.u32(0);
    w.u32(kMaxNodeBits + 1);
    expect_error([&] { decode_infer(w.buf.data(), w.buf.size()); }, "node set of 65537");
}

TEST(Protocol, ResultErrorJsonProbeRoundTrips) {
    Tensor y = filled({1, 10});
    ResultReply res;
    res.receive_us = 5, res.queue_us = 6, res.compute_us = 7, res.queued = 2, res.running = 1;
    res.tensors = {{"fc", y.shape(), y.data()}};
    auto bytes = frame_bytes(MsgType::Result, encode_result(res));
    auto buf = aligned_floats(bytes.size() / 4 + 1);
    std::memcpy(buf.get(), bytes.data() + kHeaderBytes, bytes.size() - kHeaderBytes);
    ResultReply d =
        decode_result(reinterpret_cast<uint8_t*>(buf.get()), bytes.size() - kHeaderBytes);
    EXPECT_EQ(d.compute_us, 7u);
    EXPECT_EQ(d.queued, 2u);
    EXPECT_EQ(d.tensors[0].data[9], y.data()[9]);

    auto e = encode_error({WireError::BadCut, "nope"});
    ErrorReply de = decode_error(e.data(), e.size());
    EXPECT_EQ(de.code, WireError::BadCut);
    EXPECT_EQ(de.message, "nope");
    auto j = encode_json("{\"a\":1}");
    EXPECT_EQ(decode_json(j.data(), j.size()), "{\"a\":1}");
    auto pa = encode_probe_ack({3, 4, 5});
    EXPECT_EQ(decode_probe_ack(pa.data(), pa.size()).bytes, 4u);
    EXPECT_EQ(decode_probe_ack(pa.data(), pa.size()).backlog_us, 5u);
    auto pa3 = encode_probe_ack({3, 4, 5}, 3);  // version 3 has no backlog
    EXPECT_EQ(pa3.size(), 16u);
    EXPECT_EQ(decode_probe_ack(pa3.data(), pa3.size(), 3).backlog_us, 0u);
}

TEST(Protocol, EveryTruncationIsAnError) {
    Fixture f;
    auto bytes = frame_bytes(MsgType::Infer, encode_infer(f.request()));
    const size_t head = kHeaderBytes + encode_infer(f.request()).head.size();
    for (size_t cut = kHeaderBytes; cut < head + 8; ++cut) {
        auto buf = aligned_floats(bytes.size() / 4 + 1);
        std::memcpy(buf.get(), bytes.data() + kHeaderBytes, cut - kHeaderBytes);
        EXPECT_THROW(decode_infer(reinterpret_cast<uint8_t*>(buf.get()), cut - kHeaderBytes), Error)
            << "payload cut at " << cut - kHeaderBytes;
    }
}

TEST(Protocol, MutatedCorpusReplayNeverCrashes) {
    // A bounded, deterministic stand-in for the libFuzzer run (tests/fuzz_protocol.cpp).
    Fixture f;
    Tensor y = filled({1, 5});
    ResultReply res;
    res.tensors = {{"prob", y.shape(), y.data()}};
    Outgoing hello;
    hello.head = encode_json("{\"client\":\"x\"}");
    // Encoded tensors too: every format and lossless stage reaches its decoder.
    std::vector<std::vector<uint8_t>> keep;
    std::vector<std::vector<uint8_t>> seeds = {
        frame_bytes(MsgType::Infer, encode_infer(f.request())),
        frame_bytes(MsgType::Infer, encode_infer(f.request(4))),
        frame_bytes(MsgType::Result, encode_result(res)), frame_bytes(MsgType::Hello, hello)};
    for (const WireEncoding& enc : all_encodings()) {
        InferRequest r = f.request();
        for (auto& t : r.tensors) {
            keep.emplace_back();
            ASSERT_TRUE(encode_tensor(t.data, t.shape, enc, keep.back()));
            t.encoding = enc;
            t.encoded = keep.back().data();
            t.encoded_bytes = keep.back().size();
        }
        seeds.push_back(frame_bytes(MsgType::Infer, encode_infer(r)));
    }
    std::mt19937 rng(1234);
    int errors = 0;
    for (int i = 0; i < 30000; ++i) {
        std::vector<uint8_t> m = seeds[rng() % seeds.size()];
        const int edits = 1 + int(rng() % 6);
        for (int e = 0; e < edits; ++e) {
            const size_t at = rng() % m.size();
            switch (rng() % 4) {
                case 0:
                    m[at] = uint8_t(rng());
                    break;  // byte
                case 1:
                    m[at] ^= uint8_t(1u << (rng() % 8));
                    break;  // bit
                case 2:
                    m.resize(std::max<size_t>(1, at));
                    break;  // truncate
                case 3:
                    m.insert(m.begin() + at, uint8_t(rng() % 3 ? 0 : 0xff));
                    break;
            }
        }
        try {
            fuzz_one(m.data(), m.size(), &f.served);
        } catch (const Error&) {
            ++errors;
        }
    }
    EXPECT_GT(errors, 1000);  // the mutations do reach the checks
}

}  // namespace nse::test
