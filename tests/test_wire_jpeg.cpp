// JPEG as a wire format (net/wire_jpeg.h): which shapes it carries, that pictures keep their
// channels and feature maps each plane (a layout slip would swap or mix them, far past JPEG's
// error), that a lower quality sends fewer bytes, and that the decoder refuses streams that are
// not the image the receiver's shape gives.
#include <cmath>
#include <vector>

#include "net/wire_codec.h"
#include "net/wire_jpeg.h"
#include "tests/kernel_tester.h"

namespace nse::test {

using namespace net;

namespace {

// Root-mean-square error of each of `groups` consecutive runs, over the run's own range.
std::vector<double> rms_over_range(const std::vector<float>& x, const std::vector<float>& y,
                                   size_t groups) {
    const size_t len = x.size() / groups;
    std::vector<double> out;
    for (size_t g = 0; g < groups; ++g) {
        double lo = INFINITY, hi = -INFINITY, se = 0;
        for (size_t i = g * len; i < (g + 1) * len; ++i) {
            lo = std::min(lo, double(x[i]));
            hi = std::max(hi, double(x[i]));
            se += (double(y[i]) - x[i]) * (double(y[i]) - x[i]);
        }
        out.push_back(std::sqrt(se / double(len)) / (hi - lo));
    }
    return out;
}

std::vector<float> round_trip(const std::vector<float>& x, const Shape& shape, WireFormat f,
                              size_t* bytes = nullptr) {
    std::vector<uint8_t> buf;
    EXPECT_TRUE(encode_tensor(x.data(), shape, {f, WireCoding::Raw}, buf));
    if (bytes) *bytes = buf.size();
    std::vector<float> y(x.size() + 1, 42.f);
    decode_tensor(buf.data(), buf.size(), shape, {f, WireCoding::Raw}, y.data());
    EXPECT_EQ(y.back(), 42.f) << "wrote past the shape";
    y.pop_back();
    return y;
}

constexpr WireFormat kJpegs[] = {WireFormat::Jpeg90, WireFormat::Jpeg75, WireFormat::Jpeg50};

}  // namespace

TEST(WireJpeg, CarriesNchwWithPlanesOfFourOrMore) {
    EXPECT_TRUE(jpeg_carries({1, 3, 224, 224}));
    EXPECT_TRUE(jpeg_carries({1, 64, 56, 56}));
    EXPECT_TRUE(jpeg_carries({4, 1280, 4, 4}));
    EXPECT_TRUE(jpeg_carries({1, 1, 8, 65496}));
    EXPECT_FALSE(jpeg_carries({1, 1, 8, 65501}));  // its cell is past JPEG's side
    EXPECT_FALSE(jpeg_carries({1, 3, 70000, 4}));
    EXPECT_FALSE(jpeg_carries({1, 1280, 1, 1}));
    EXPECT_FALSE(jpeg_carries({1, 16, 3, 8}));
    EXPECT_FALSE(jpeg_carries({1, 1000}));
    EXPECT_FALSE(jpeg_carries({1, 197, 768}));
    std::vector<float> x(1000, 1.f);
    std::vector<uint8_t> out = {7};
    EXPECT_FALSE(encode_tensor(x.data(), {1, 1000}, {WireFormat::Jpeg90}, out));
    EXPECT_EQ(out.size(), 1u);
    std::vector<float> bad = {1, 2, NAN, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    EXPECT_FALSE(encode_tensor(bad.data(), {1, 1, 4, 4}, {WireFormat::Jpeg90}, out));
    EXPECT_EQ(out.size(), 1u);
}

TEST(WireJpeg, PicturesKeepTheirChannels) {
    // Two smooth "photographs" (as Normalize leaves them: each channel its own offset and range),
    // every channel a different pattern, sides that are not multiples of 8 or 16.
    const Shape shape{2, 3, 37, 58};
    std::vector<float> x(size_t(numel(shape)));
    for (int64_t b = 0; b < 2; ++b)
        for (int64_t c = 0; c < 3; ++c)
            for (int64_t y = 0; y < 37; ++y)
                for (int64_t w = 0; w < 58; ++w) {
                    const double v = c == 0   ? std::sin(double(w + 5 * b) / 6.0)
                                     : c == 1 ? double(y) / 18.0 - 1
                                              : std::cos(double(w + y) / 9.0 + double(b));
                    x[size_t(((b * 3 + c) * 37 + y) * 58 + w)] = float(v * (1 + 0.3 * c) - 0.4 * c);
                }
    size_t last = SIZE_MAX;
    for (WireFormat f : kJpegs) {
        size_t bytes = 0;
        const auto y = round_trip(x, shape, f, &bytes);
        for (double e : rms_over_range(x, y, 6)) EXPECT_LT(e, 0.03) << jpeg_quality(f);
        EXPECT_LT(bytes, last) << "a lower quality sends fewer bytes";
        last = bytes;
    }
    EXPECT_LT(last, size_t(numel(shape)) / 4) << "jpeg50 of a smooth picture";
}

TEST(WireJpeg, FeatureMapsKeepEachPlane) {
    // Planes of 7x9 (cells of 8x16 in the mosaic), each a distinct level and slope, so a plane
    // put in another's cell shows as an error of the order of its range.
    for (const Shape& shape : {Shape{2, 5, 7, 9}, Shape{1, 64, 14, 14}, Shape{1, 1, 16, 40}}) {
        const int64_t planes = shape[0] * shape[1], hw = shape[2] * shape[3];
        std::vector<float> x(size_t(numel(shape)));
        for (int64_t p = 0; p < planes; ++p)
            for (int64_t i = 0; i < hw; ++i)
                x[size_t(p * hw + i)] = float(p % 7) + float((i % shape[3]) * (1 + p % 3)) * 0.1f +
                                        float(i / shape[3]) * 0.05f;
        for (WireFormat f : kJpegs) {
            const auto y = round_trip(x, shape, f);
            for (double e : rms_over_range(x, y, size_t(planes)))
                ASSERT_LT(e, 0.05) << shape_str(shape) << " q" << jpeg_quality(f);
        }
    }
}

TEST(WireJpeg, DecoderRefusesWrongOrCorruptStreams) {
    const Shape shape{1, 3, 16, 16};
    std::vector<float> x(768);
    for (size_t i = 0; i < x.size(); ++i) x[i] = float(i % 37) * 0.1f;
    const WireEncoding enc{WireFormat::Jpeg75};
    std::vector<uint8_t> buf;
    ASSERT_TRUE(encode_tensor(x.data(), shape, enc, buf));
    std::vector<float> y(16 * 24 * 3 + 1, 42.f);
    // A stream for another shape (what a lying sender would try: a larger image).
    expect_error(
        [&] {
            decode_tensor(buf.data(), buf.size(), {1, 3, 16, 24}, enc, y.data());
        },
        "needs 24x16");
    // Truncated: libjpeg-turbo warns ("premature end"), which counts as an error.
    expect_error([&] { decode_tensor(buf.data(), buf.size() - 40, shape, enc, y.data()); },
                 "does not decode");
    // Shorter than the scales; scales followed by no JPEG; a shape JPEG does not carry.
    expect_error([&] { decode_tensor(buf.data(), 20, shape, enc, y.data()); },
                 "shorter than its 24 bytes of scales");
    std::vector<uint8_t> junk(buf.begin(), buf.begin() + 24);
    junk.resize(200, 0x5a);
    expect_error([&] { decode_tensor(junk.data(), junk.size(), shape, enc, y.data()); },
                 "bad header");
    expect_error(
        [&] {
            decode_tensor(buf.data(), buf.size(), {1, 3, 2, 2}, enc, y.data());
        },
        "not carried");
    EXPECT_EQ(y.back(), 42.f);
}

}  // namespace nse::test
