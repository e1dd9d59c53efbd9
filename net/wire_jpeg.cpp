#include "net/wire_jpeg.h"

#include <turbojpeg.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "base/error.h"
#include "net/protocol.h"

namespace nse::net {

namespace {

[[noreturn]] void bad(const std::string& what) {
    throw ProtocolError(WireError::BadTensors, "jpeg tensor: " + what);
}

// libjpeg-turbo's own limit on an image side (JPEG_MAX_DIMENSION).
constexpr int64_t kMaxSide = 65500;
constexpr int64_t kMinPlaneSide = 4;

struct Layout {
    bool rgb = false;
    int64_t n = 0, c = 0, h = 0, w = 0;  // the tensor
    int64_t cell_h = 0, cell_w = 0, cols = 0;
    int64_t width = 0, height = 0;  // the image
    int pixel_size() const { return rgb ? 3 : 1; }
};

bool layout_of(const Shape& s, Layout& l) {
    if (s.size() != 4 || s[2] < kMinPlaneSide || s[3] < kMinPlaneSide) return false;
    l.n = s[0];
    l.c = s[1];
    l.h = s[2];
    l.w = s[3];
    l.rgb = l.c == 3;
    if (l.rgb) {
        l.width = l.w;
        l.height = l.n * l.h;
    } else {
        const int64_t planes = l.n * l.c;
        l.cell_h = (l.h + 7) / 8 * 8;
        l.cell_w = (l.w + 7) / 8 * 8;
        l.cols = std::clamp<int64_t>(
            int64_t(std::lround(std::sqrt(double(planes) * double(l.cell_h) / double(l.cell_w)))),
            1, planes);
        l.width = l.cols * l.cell_w;
        l.height = (planes + l.cols - 1) / l.cols * l.cell_h;
    }
    return l.width <= kMaxSide && l.height <= kMaxSide;
}

struct Handles {
    tjhandle c = tjInitCompress();
    tjhandle d = tjInitDecompress();
    ~Handles() {
        if (c) tjDestroy(c);
        if (d) tjDestroy(d);
    }
    // A decompressor that stopped on an error is left mid-stream (the next header read fails
    // with "Bogus Huffman table"): a fresh one for the next tensor, and the reason thrown.
    [[noreturn]] void failed(const std::string& what) {
        const std::string why = what + tjGetErrorStr2(d);
        tjDestroy(d);
        d = tjInitDecompress();
        bad(why);
    }
};
Handles& handles() {
    thread_local Handles h;
    NSE_CHECK(h.c && h.d, ErrorCode::Internal, "libjpeg-turbo: cannot create a handle");
    return h;
}

// Planar values into the image's pixels.
void to_image(const uint8_t* q, const Layout& l, uint8_t* img) {
    const int64_t plane = l.h * l.w;
    if (l.rgb) {
        for (int64_t b = 0; b < l.n; ++b)
            for (int64_t ch = 0; ch < 3; ++ch) {
                const uint8_t* src = q + (b * 3 + ch) * plane;
                uint8_t* dst = img + b * plane * 3 + ch;
                for (int64_t i = 0; i < plane; ++i) dst[i * 3] = src[i];
            }
        return;
    }
    std::fill(img, img + l.width * l.height, uint8_t(0));
    for (int64_t p = 0; p < l.n * l.c; ++p) {
        const uint8_t* src = q + p * plane;
        uint8_t* cell = img + (p / l.cols) * l.cell_h * l.width + (p % l.cols) * l.cell_w;
        for (int64_t y = 0; y < l.cell_h; ++y) {
            const uint8_t* row = src + std::min(y, l.h - 1) * l.w;
            uint8_t* out = cell + y * l.width;
            std::copy(row, row + l.w, out);
            std::fill(out + l.w, out + l.cell_w, row[l.w - 1]);
        }
    }
}

// The image's pixels back into planar values.
void from_image(const uint8_t* img, const Layout& l, uint8_t* q) {
    const int64_t plane = l.h * l.w;
    if (l.rgb) {
        for (int64_t b = 0; b < l.n; ++b)
            for (int64_t ch = 0; ch < 3; ++ch) {
                const uint8_t* src = img + b * plane * 3 + ch;
                uint8_t* dst = q + (b * 3 + ch) * plane;
                for (int64_t i = 0; i < plane; ++i) dst[i] = src[i * 3];
            }
        return;
    }
    for (int64_t p = 0; p < l.n * l.c; ++p) {
        const uint8_t* cell = img + (p / l.cols) * l.cell_h * l.width + (p % l.cols) * l.cell_w;
        for (int64_t y = 0; y < l.h; ++y)
            std::copy(cell + y * l.width, cell + y * l.width + l.w, q + p * plane + y * l.w);
    }
}

}  // namespace

bool jpeg_carries(const Shape& shape) {
    Layout l;
    return layout_of(shape, l);
}

bool jpeg_encode(const uint8_t* q, const Shape& shape, int quality, std::vector<uint8_t>& out) {
    Layout l;
    if (!layout_of(shape, l)) return false;
    thread_local std::vector<uint8_t> img;
    img.resize(size_t(l.width * l.height * l.pixel_size()));
    to_image(q, l, img.data());
    const int subsamp = l.rgb ? TJSAMP_444 : TJSAMP_GRAY;
    const size_t at = out.size();
    unsigned long size = tjBufSize(int(l.width), int(l.height), subsamp);
    out.resize(at + size);
    unsigned char* dst = out.data() + at;
    Handles& h = handles();
    const int rc =
        tjCompress2(h.c, img.data(), int(l.width), 0, int(l.height), l.rgb ? TJPF_RGB : TJPF_GRAY,
                    &dst, &size, subsamp, quality, TJFLAG_NOREALLOC);
    NSE_CHECK(rc == 0, ErrorCode::Internal, "libjpeg-turbo: ", tjGetErrorStr2(h.c));
    out.resize(at + size);
    return true;
}

void jpeg_decode(const uint8_t* in, size_t bytes, const Shape& shape, uint8_t* q) {
    Layout l;
    if (!layout_of(shape, l)) bad("shape " + shape_str(shape) + " is not carried as JPEG");
    Handles& h = handles();
    int width = 0, height = 0, subsamp = 0, colorspace = 0;
    if (tjDecompressHeader3(h.d, in, (unsigned long)bytes, &width, &height, &subsamp,
                            &colorspace) != 0)
        h.failed("bad header: ");
    if (width != l.width || height != l.height)
        bad("image is " + std::to_string(width) + "x" + std::to_string(height) + "; shape " +
            shape_str(shape) + " needs " + std::to_string(l.width) + "x" +
            std::to_string(l.height));
    thread_local std::vector<uint8_t> img;
    img.resize(size_t(l.width * l.height * l.pixel_size()));
    if (tjDecompress2(h.d, in, (unsigned long)bytes, img.data(), width, 0, height,
                      l.rgb ? TJPF_RGB : TJPF_GRAY, TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS) != 0)
        h.failed("does not decode: ");
    from_image(img.data(), l, q);
}

}  // namespace nse::net
