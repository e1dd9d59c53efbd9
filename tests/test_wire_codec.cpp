// Tensor encodings for the wire: the element conversions on every CPU path against references,
// each encoding's round trip and error bound, and decoders fed lies (they must throw, never
// write past the shape or allocate by the sender's word).
#include <cmath>
#include <cstring>
#include <random>

#include "kernels/cpu/wire_convert.h"
#include "net/protocol.h"
#include "net/server.h"
#include "net/wire_jpeg.h"
#include "tests/kernel_tester.h"
#include "tests/model_builder.h"

namespace nse::test {

using namespace net;

namespace {
uint32_t bits(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
}
float from_bits(uint32_t u) {
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}
double half_value(uint16_t h) {
    const int e = (h >> 10) & 0x1f, m = h & 0x3ff;
    if (e == 31) return (h & 0x8000) ? -INFINITY : INFINITY;
    const double v = e == 0 ? std::ldexp(double(m), -24) : std::ldexp(1024.0 + m, e - 25);
    return (h & 0x8000) ? -v : v;
}
// Post-ReLU-like values: `zeros` of them exactly zero, the rest in (0, 6].
std::vector<float> relu_like(size_t n, double zeros, uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> u(0.f, 1.f);
    std::vector<float> v(n);
    for (auto& x : v) x = u(rng) < zeros ? 0.f : 6.f * u(rng) + 1e-3f;
    return v;
}
}  // namespace

TEST(WireConvert, HalfOfEveryHalfRoundTripsOnBothPaths) {
    std::vector<uint16_t> all(65536), back(65536), back_portable(65536);
    for (uint32_t i = 0; i < 65536; ++i) all[i] = uint16_t(i);
    std::vector<float> f(65536), fp(65536);
    f16_to_f32(65536, all.data(), f.data());
    f16_to_f32_portable(65536, all.data(), fp.data());
    f32_to_f16(65536, f.data(), back.data());
    f32_to_f16_portable(65536, fp.data(), back_portable.data());
    for (uint32_t i = 0; i < 65536; ++i) {
        ASSERT_EQ(bits(f[i]), bits(fp[i])) << std::hex << i;
        const bool nan = ((i >> 10) & 0x1f) == 0x1f && (i & 0x3ff);
        if (!nan) {
            ASSERT_EQ(f[i], float(half_value(uint16_t(i)))) << std::hex << i;
        }
        // NaNs come back quiet (bit 9 set), everything else exactly.
        const uint16_t want = nan ? uint16_t(i | 0x200) : uint16_t(i);
        ASSERT_EQ(back[i], want) << std::hex << i;
        ASSERT_EQ(back_portable[i], want) << std::hex << i;
    }
}

TEST(WireConvert, FloatToHalfRoundsToNearestEvenOnBothPaths) {
    // Random bit patterns over every exponent, and the edges: ties, the overflow threshold,
    // the subnormal boundary, zeros, infinities.
    std::mt19937 rng(5);
    std::vector<float> x;
    for (int i = 0; i < 200000; ++i) x.push_back(from_bits(uint32_t(rng())));
    for (uint32_t b : {0x477fe000u, 0x477fefffu, 0x477ff000u, 0x477ff001u, 0x38800000u, 0x387fffffu,
                       0x33000000u, 0x33000001u, 0x32ffffffu, 0x0u, 0x80000000u, 0x7f800000u,
                       0xff800000u, 0x3f801000u, 0x3f803000u, 0x3f800fffu})
        x.push_back(from_bits(b));
    for (size_t n : {x.size(), size_t(1), size_t(15), size_t(17)}) {
        std::vector<uint16_t> h(n), hp(n);
        f32_to_f16(int64_t(n), x.data(), h.data());
        f32_to_f16_portable(int64_t(n), x.data(), hp.data());
        for (size_t i = 0; i < n; ++i) {
            ASSERT_EQ(h[i], hp[i]) << std::hex << bits(x[i]);
            if (std::isnan(x[i]) || std::fabs(x[i]) > 65504) continue;
            // Nearest: neither neighbour is closer; on a tie the mantissa is even.
            const double v = x[i], d = std::fabs(v - half_value(h[i]));
            for (int step : {-1, 1}) {
                const uint16_t nb = uint16_t((h[i] & 0x7fff) + step) | (h[i] & 0x8000);
                if ((nb & 0x7fff) > 0x7bff || (h[i] & 0x7fff) + step < 0) continue;
                const double dn = std::fabs(v - half_value(nb));
                ASSERT_TRUE(d < dn || (d == dn && (h[i] & 1) == 0)) << std::hex << bits(x[i]);
            }
        }
    }
}

TEST(WireConvert, QuantiseDequantiseAndMinMaxMatchPortableOverSizes) {
    for (int64_t n : {1, 2, 15, 16, 17, 31, 100, 1000, 4099}) {
        auto x = random_vector(size_t(n), uint32_t(n), -3.f, 5.f);
        float lo, hi, lop, hip;
        if (n > 3) {  // a NaN anywhere makes both NaN
            const float keep = x[size_t(n) - 2];
            x[size_t(n) - 2] = NAN;
            minmax_f32(n, x.data(), &lo, &hi);
            minmax_f32_portable(n, x.data(), &lop, &hip);
            ASSERT_TRUE(std::isnan(lo) && std::isnan(hi) && std::isnan(lop) && std::isnan(hip));
            x[size_t(n) - 2] = keep;
            x[2] = NAN;  // quantised to 0 below
        }
        if (n > 3) x[2] = 0;
        minmax_f32(n, x.data(), &lo, &hi);
        minmax_f32_portable(n, x.data(), &lop, &hip);
        if (n > 3) x[2] = NAN;
        ASSERT_EQ(lo, lop);
        ASSERT_EQ(hi, hip);
        float rlo = INFINITY, rhi = -INFINITY;
        for (float v : x)
            if (!std::isnan(v)) rlo = std::min(rlo, v), rhi = std::max(rhi, v);
        ASSERT_EQ(lo, rlo);
        ASSERT_EQ(hi, rhi);
        const float scale = (hi - lo) / 255.f, inv = 1.f / scale;
        const size_t un = static_cast<size_t>(n);
        std::vector<uint8_t> q(un), qp(un);
        quantize_u8(n, x.data(), lo, inv, q.data());
        quantize_u8_portable(n, x.data(), lo, inv, qp.data());
        ASSERT_EQ(q, qp);
        std::vector<float> y(un), yp(un);
        dequantize_u8(n, q.data(), lo, scale, y.data());
        dequantize_u8_portable(n, q.data(), lo, scale, yp.data());
        for (int64_t i = 0; i < n; ++i) {
            ASSERT_EQ(bits(y[size_t(i)]), bits(yp[size_t(i)]));
            if (std::isnan(x[size_t(i)])) {
                ASSERT_EQ(q[size_t(i)], 0);
                continue;
            }
            ASSERT_LE(std::fabs(y[size_t(i)] - x[size_t(i)]), scale * 0.5f + 1e-6f)
                << n << " " << i;
        }
    }
}

TEST(WireCodec, NamesCodesAndParsing) {
    EXPECT_EQ(all_encodings().size(), 12u);
    EXPECT_EQ(WireEncoding{}.code(), 1);  // protocol version 1's f32 byte
    for (const auto& e : all_encodings()) {
        EXPECT_EQ(parse_encoding(e.name()), e);
        EXPECT_EQ(encoding_from_code(e.code()), e);
    }
    EXPECT_EQ(parse_encoding("int8+zstd").name(), "int8+zstd");
    EXPECT_EQ(parse_encoding("jpeg75").format, WireFormat::Jpeg75);
    EXPECT_FALSE(parse_encoding("jpeg90").lossless());
    EXPECT_FALSE(parse_encoding("jpeg90").fixed_size());
    EXPECT_TRUE(parse_encoding("int8").fixed_size());
    expect_error([] { parse_encoding("jpeg90+zstd"); }, "unknown wire encoding");
    expect_error([] { parse_encoding("int4"); }, "unknown wire encoding 'int4'");
    expect_error([] { encoding_from_code(0x33); }, "unknown tensor encoding 51");
}

TEST(WireCodec, EveryEncodingRoundTripsWithinItsBound) {
    for (const Shape& shape : {Shape{1, 3, 5, 5}, Shape{2, 16, 7, 7}, Shape{1, 1000}, Shape{7},
                               Shape{1, 197, 24}, Shape{2, 5, 1, 32}, Shape{1, 1280, 1, 1}}) {
        const size_t n = size_t(numel(shape));
        auto x = relu_like(n, 0.6, 3);
        for (size_t i = 0; i < n; i += 7) x[i] = -x[i];  // some negatives too
        for (const auto& enc : all_encodings()) {
            std::vector<uint8_t> buf = {0xAB};  // appends after what is there
            if (jpeg_quality(enc.format) && !jpeg_carries(shape)) {
                ASSERT_FALSE(encode_tensor(x.data(), shape, enc, buf)) << shape_str(shape);
                ASSERT_EQ(buf.size(), 1u);
                continue;
            }
            ASSERT_TRUE(encode_tensor(x.data(), shape, enc, buf));
            std::vector<float> y(n + 1, 42.f);
            decode_tensor(buf.data() + 1, buf.size() - 1, shape, enc, y.data());
            ASSERT_EQ(y[n], 42.f) << "wrote past the shape";
            const int64_t c = wire_channels(shape),
                          inner = int64_t(n) / c / (shape.size() > 2 ? shape[0] : 1);
            for (size_t i = 0; i < n; ++i) {
                if (enc.lossless()) {
                    ASSERT_EQ(bits(y[i]), bits(x[i])) << enc.name();
                } else if (jpeg_quality(enc.format)) {
                    continue;  // no per-value bound: the JPEG tests below
                } else if (enc.format == WireFormat::F16) {
                    ASSERT_LE(std::fabs(y[i] - x[i]), std::fabs(x[i]) * (1.f / 2048) + 1e-7f);
                } else {  // within half a step of its channel's range
                    const int64_t ch = (int64_t(i) / inner) % c;
                    float lo = INFINITY, hi = -INFINITY;
                    for (size_t j = 0; j < n; ++j)
                        if ((int64_t(j) / inner) % c == ch)
                            lo = std::min(lo, x[j]), hi = std::max(hi, x[j]);
                    ASSERT_LE(std::fabs(y[i] - x[i]), (hi - lo) / 255.f * 0.51f + 1e-6f)
                        << enc.name() << " " << shape_str(shape) << " " << i;
                }
            }
        }
    }
}

TEST(WireCodec, SparseAndZstdShrinkMostlyZeroTensors) {
    const Shape shape{1, 64, 28, 28};
    auto x = relu_like(size_t(numel(shape)), 0.7, 9);
    std::vector<uint8_t> raw, sparse, z, q;
    encode_tensor(x.data(), shape, {WireFormat::F32, WireCoding::Raw}, raw);
    encode_tensor(x.data(), shape, {WireFormat::F32, WireCoding::Sparse}, sparse);
    encode_tensor(x.data(), shape, {WireFormat::F32, WireCoding::Zstd}, z);
    encode_tensor(x.data(), shape, {WireFormat::I8, WireCoding::Sparse}, q);
    EXPECT_EQ(raw.size(), x.size() * 4);
    // 30 % kept: a bit per element plus 4 bytes per kept one.
    EXPECT_LT(sparse.size(), raw.size() * 0.36);
    EXPECT_LT(z.size(), raw.size() * 0.5);
    EXPECT_LT(q.size(), raw.size() * 0.12);
}

TEST(WireCodec, Int8RefusesNonFiniteValues) {
    std::vector<float> x = {1, 2, INFINITY, 4};
    std::vector<uint8_t> out = {1, 2};
    EXPECT_FALSE(encode_tensor(x.data(), {4}, {WireFormat::I8, WireCoding::Zstd}, out));
    EXPECT_EQ(out.size(), 2u);
    x[2] = NAN;
    EXPECT_FALSE(encode_tensor(x.data(), {1, 4}, {WireFormat::I8, WireCoding::Raw}, out));
    EXPECT_TRUE(encode_tensor(x.data(), {1, 4}, {WireFormat::F16, WireCoding::Raw}, out));
}

TEST(WireCodec, DecodersRefuseLies) {
    const Shape shape{1, 4, 3, 3};
    auto x = relu_like(36, 0.5, 4);
    std::vector<float> y(36);
    auto encoded = [&](WireEncoding e) {
        std::vector<uint8_t> b;
        encode_tensor(x.data(), shape, e, b);
        return b;
    };
    const WireEncoding sparse{WireFormat::F32, WireCoding::Sparse},
        zst{WireFormat::F16, WireCoding::Zstd}, i8{WireFormat::I8, WireCoding::Raw};
    // A raw format of the wrong size.
    auto r = encoded({WireFormat::F16, WireCoding::Raw});
    expect_error([&] { decode_tensor(r.data(), r.size() - 2, shape, {WireFormat::F16}, y.data()); },
                 "must be 72 bytes, got 70");
    // Sparse: shorter than the bitmap, values that disagree with it, bits past the end.
    auto s = encoded(sparse);
    expect_error([&] { decode_tensor(s.data(), 3, shape, sparse, y.data()); },
                 "shorter than its bitmap");
    expect_error([&] { decode_tensor(s.data(), s.size() - 4, shape, sparse, y.data()); },
                 "bitmap needs");
    s[4] |= 0x80;  // bit 39 of 36
    expect_error([&] { decode_tensor(s.data(), s.size(), shape, sparse, y.data()); },
                 "past its end");
    // zstd: garbage, and a valid frame of the wrong size (a bomb claims more than the shape).
    std::vector<uint8_t> junk(40, 0x5a);
    expect_error([&] { decode_tensor(junk.data(), junk.size(), shape, zst, y.data()); },
                 "does not decode");
    std::vector<float> big(100000, 1.f);
    std::vector<uint8_t> bomb;
    encode_tensor(big.data(), {1, 100000}, zst, bomb);
    EXPECT_LT(bomb.size(), 1000u);
    expect_error([&] { decode_tensor(bomb.data(), bomb.size(), shape, zst, y.data()); },
                 "does not decode");
    std::vector<float> small(10, 1.f);
    std::vector<uint8_t> short_frame;
    encode_tensor(small.data(), {1, 10}, zst, short_frame);
    expect_error(
        [&] { decode_tensor(short_frame.data(), short_frame.size(), shape, zst, y.data()); },
        "decodes to 20 bytes; its shape needs 72");
    // int8 with a NaN scale.
    auto q = encoded(i8);
    const float nan = NAN;
    std::memcpy(q.data() + 4, &nan, 4);
    expect_error([&] { decode_tensor(q.data(), q.size(), shape, i8, y.data()); }, "bad scale");
}

TEST(WireCodec, MutatedEncodingsOnlyEverThrow) {
    // A bounded, deterministic stand-in for tools/fuzz.sh's decoder target: valid encodings of
    // every kind, mutated, decoded into their shape (a write past it would trip the guard).
    const Shape shape{1, 8, 6, 6};
    auto x = relu_like(288, 0.5, 11);
    std::vector<std::vector<uint8_t>> seeds;
    for (const auto& enc : all_encodings()) {
        seeds.emplace_back();
        encode_tensor(x.data(), shape, enc, seeds.back());
    }
    std::mt19937 rng(99);
    int errors = 0;
    std::vector<float> y(289);
    for (int i = 0; i < 20000; ++i) {
        const size_t which = rng() % seeds.size();
        std::vector<uint8_t> m = seeds[which];
        for (int e = 1 + int(rng() % 4); e > 0 && !m.empty(); --e) {
            const size_t at = rng() % m.size();
            if (rng() % 3 == 0)
                m.resize(at);
            else
                m[at] ^= uint8_t(1u << (rng() % 8));
        }
        y[288] = 42.f;
        try {
            decode_tensor(m.data(), m.size(), shape, all_encodings()[which], y.data());
        } catch (const Error&) {
            ++errors;
        }
        ASSERT_EQ(y[288], 42.f);
    }
    EXPECT_GT(errors, 2000);
}

TEST(WireCodec, EncodedInferDecodesOnTheCloudSide) {
    auto model = small_dag().load("codec_dag.safetensors");
    ServedModel served{model, 42};
    Tensor a = filled({1, 4, 8, 8}, 0.5f), b = filled({1, 4, 8, 8}, -0.5f);
    std::vector<uint8_t> ea, eb;
    const WireEncoding enc{WireFormat::F16, WireCoding::Zstd};
    ASSERT_TRUE(encode_tensor(a.data(), a.shape(), enc, ea));
    ASSERT_TRUE(encode_tensor(b.data(), b.shape(), enc, eb));
    InferRequest r;
    r.model = "synthetic";
    r.model_hash = 42;
    r.cut = 2;
    r.tensors = {{"a", a.shape()}, {"b", b.shape(), b.data()}};  // b stays fp32
    r.tensors[0].encoding = enc;
    r.tensors[0].encoded = ea.data();
    r.tensors[0].encoded_bytes = ea.size();
    const std::vector<uint8_t> payload = encode_infer(r).flatten();
    auto buf = aligned_floats(payload.size() / 4 + 1);
    std::memcpy(buf.get(), payload.data(), payload.size());
    InferRequest d = decode_infer(reinterpret_cast<uint8_t*>(buf.get()), payload.size());
    ASSERT_EQ(d.tensors[0].encoding, enc);
    ASSERT_TRUE(d.tensors[1].encoding.raw_f32());
    std::vector<Tensor> in = check_infer(served, d);
    decode_infer_inputs(d.tensors, in);
    for (int64_t i = 0; i < a.numel(); ++i) {
        ASSERT_NEAR(in[0].data()[i], a.data()[i], std::fabs(a.data()[i]) / 2048 + 1e-7);
        ASSERT_EQ(in[1].data()[i], b.data()[i]);
    }
    // The fp32 size of the cut bounds what an encoded message may make the cloud allocate.
    expect_error([&] { check_infer(served, d, 2 * 256 * 4 - 1); }, "over the limit of 2047");
}

TEST(WireCodec, VersionOneFramesAreStillUnderstood) {
    FrameHeader h;
    h.type = uint16_t(MsgType::Infer);
    h.version = 1;
    EXPECT_NO_THROW(check_header(h, 100));
    h.version = kProtocolVersion + 1;
    expect_error([&] { check_header(h, 100); }, "this side speaks 1 to 4");
    Tensor y = filled({1, 10});
    ResultReply res;
    res.compute_us = 7;
    res.decode_us = 9;
    res.batch = 5;
    res.tensors = {{"fc", y.shape(), y.data()}};
    for (uint16_t v : {uint16_t(1), uint16_t(2), uint16_t(3), uint16_t(4)}) {
        const std::vector<uint8_t> p = encode_result(res, v).flatten();
        auto buf = aligned_floats(p.size() / 4 + 1);
        std::memcpy(buf.get(), p.data(), p.size());
        ResultReply d = decode_result(reinterpret_cast<uint8_t*>(buf.get()), p.size(), v);
        EXPECT_EQ(d.compute_us, 7u);
        EXPECT_EQ(d.decode_us, v == 1 ? 0u : 9u);
        EXPECT_EQ(d.batch, v < 4 ? 1u : 5u);  // version 4 added the batch
        EXPECT_EQ(d.tensors[0].data[9], y.data()[9]);
    }
}

}  // namespace nse::test
