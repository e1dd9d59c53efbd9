#include "net/wire_codec.h"

#include <zstd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "kernels/cpu/wire_convert.h"
#include "net/protocol.h"
#include "net/wire_jpeg.h"

namespace nse::net {

namespace {

size_t elem_bytes(WireFormat f) { return f == WireFormat::F32 ? 4 : f == WireFormat::F16 ? 2 : 1; }

constexpr WireFormat kFormats[] = {WireFormat::F32,    WireFormat::F16,    WireFormat::I8,
                                   WireFormat::Jpeg90, WireFormat::Jpeg75, WireFormat::Jpeg50};

[[noreturn]] void bad(const std::string& what) { throw ProtocolError(WireError::BadTensors, what); }

// zstd level 1: a few hundred MB/s here, well ahead of any link it is chosen for.
constexpr int kZstdLevel = 1;

struct ZstdContexts {
    ZSTD_CCtx* c = ZSTD_createCCtx();
    ZSTD_DCtx* d = ZSTD_createDCtx();
    ~ZstdContexts() {
        ZSTD_freeCCtx(c);
        ZSTD_freeDCtx(d);
    }
};
ZstdContexts& zstd() {
    thread_local ZstdContexts ctx;
    return ctx;
}

// The element format of x into `out` (appended); false for int8 of non-finite values.
bool encode_format(const float* x, const Shape& shape, WireFormat f, std::vector<uint8_t>& out) {
    const size_t n = size_t(numel(shape)), at = out.size();
    out.resize(at + format_bytes(shape, f));
    uint8_t* dst = out.data() + at;
    if (f == WireFormat::F32) {
        std::memcpy(dst, x, n * 4);
    } else if (f == WireFormat::F16) {
        f32_to_f16(int64_t(n), x, reinterpret_cast<uint16_t*>(dst));
    } else {
        const int64_t c = wire_channels(shape), outer = c > 1 ? shape[0] : 1;
        const int64_t inner = int64_t(n) / (c * outer);
        uint8_t* q = dst + c * 8;
        for (int64_t ch = 0; ch < c; ++ch) {
            float lo = INFINITY, hi = -INFINITY;
            for (int64_t o = 0; o < outer; ++o) {
                float a, b;
                minmax_f32(inner, x + (o * c + ch) * inner, &a, &b);
                lo = std::min(lo, a);
                hi = std::max(hi, b);
            }
            if (!std::isfinite(lo) || !std::isfinite(hi) || !std::isfinite(hi - lo)) {
                out.resize(at);
                return false;
            }
            const float scale = (hi - lo) / 255.f;
            const float inv = scale > 0 ? 1.f / scale : 0.f;
            std::memcpy(dst + ch * 8, &lo, 4);
            std::memcpy(dst + ch * 8 + 4, &scale, 4);
            for (int64_t o = 0; o < outer; ++o)
                quantize_u8(inner, x + (o * c + ch) * inner, lo, inv, q + (o * c + ch) * inner);
        }
    }
    return true;
}

void decode_format(const uint8_t* in, const Shape& shape, WireFormat f, float* out) {
    const size_t n = size_t(numel(shape));
    if (f == WireFormat::F32) {
        std::memcpy(out, in, n * 4);
    } else if (f == WireFormat::F16) {
        if (reinterpret_cast<uintptr_t>(in) % alignof(uint16_t) == 0) {  // as blocks arrive
            f16_to_f32(int64_t(n), reinterpret_cast<const uint16_t*>(in), out);
        } else {
            std::vector<uint16_t> h(n);
            std::memcpy(h.data(), in, n * 2);
            f16_to_f32(int64_t(n), h.data(), out);
        }
    } else {
        const int64_t c = wire_channels(shape), outer = c > 1 ? shape[0] : 1;
        const int64_t inner = int64_t(n) / (c * outer);
        const uint8_t* q = in + c * 8;
        for (int64_t ch = 0; ch < c; ++ch) {
            float lo, scale;
            std::memcpy(&lo, in + ch * 8, 4);
            std::memcpy(&scale, in + ch * 8 + 4, 4);
            if (!std::isfinite(lo) || !std::isfinite(scale) || scale < 0)
                bad("int8 tensor has a bad scale for channel " + std::to_string(ch));
            for (int64_t o = 0; o < outer; ++o)
                dequantize_u8(inner, q + (o * c + ch) * inner, lo, scale,
                              out + (o * c + ch) * inner);
        }
    }
}

}  // namespace

int jpeg_quality(WireFormat f) {
    return f == WireFormat::Jpeg90   ? 90
           : f == WireFormat::Jpeg75 ? 75
           : f == WireFormat::Jpeg50 ? 50
                                     : 0;
}

std::string WireEncoding::name() const {
    if (jpeg_quality(format)) return "jpeg" + std::to_string(jpeg_quality(format));
    std::string s = format == WireFormat::F32   ? "fp32"
                    : format == WireFormat::F16 ? "fp16"
                                                : "int8";
    if (coding == WireCoding::Sparse) s += "+sparse";
    if (coding == WireCoding::Zstd) s += "+zstd";
    return s;
}

const std::vector<WireEncoding>& all_encodings() {
    static const std::vector<WireEncoding> all = [] {
        std::vector<WireEncoding> v;
        for (WireFormat f : kFormats) {
            if (jpeg_quality(f)) {
                v.push_back({f, WireCoding::Raw});
                continue;
            }
            for (WireCoding c : {WireCoding::Raw, WireCoding::Sparse, WireCoding::Zstd})
                v.push_back({f, c});
        }
        return v;
    }();
    return all;
}

std::string encoding_names() {
    std::string s;
    for (const auto& e : all_encodings()) s += (s.empty() ? "" : ", ") + e.name();
    return s;
}

WireEncoding encoding_from_code(uint8_t code) {
    for (const auto& e : all_encodings())
        if (e.code() == code) return e;
    bad("unknown tensor encoding " + std::to_string(code));
}

WireEncoding parse_encoding(const std::string& name) {
    for (const auto& e : all_encodings())
        if (e.name() == name) return e;
    throw Error(ErrorCode::InvalidArgument,
                "unknown wire encoding '" + name + "' (known: " + encoding_names() + ")");
}

int64_t wire_channels(const Shape& shape) {
    if (shape.size() < 3) return 1;
    const int64_t per_channel = numel(shape) / (shape[0] * shape[1]);
    return per_channel >= kMinValuesPerChannel ? shape[1] : 1;
}

size_t format_bytes(const Shape& shape, WireFormat format) {
    const size_t n = size_t(numel(shape));
    return n * elem_bytes(format) +
           (elem_bytes(format) == 1 ? size_t(wire_channels(shape)) * 8 : 0);
}

namespace {

// Elements of E bytes as one unsigned integer (zero exactly when all its bytes are).
template <size_t E>
using Elem = std::conditional_t<E == 4, uint32_t, std::conditional_t<E == 2, uint16_t, uint8_t>>;

// Branch-free: every element is written at the kept position, which advances only past a
// non-zero one (the worst-case buffer has room for it).
template <size_t E>
size_t pack(const uint8_t* x, size_t n, uint8_t* map, uint8_t* kept) {
    size_t k = 0;
    for (size_t i = 0; i < n; i += 8) {
        unsigned bits = 0;
        const size_t m = std::min<size_t>(8, n - i);
        for (size_t j = 0; j < m; ++j) {
            Elem<E> v;
            std::memcpy(&v, x + (i + j) * E, E);
            std::memcpy(kept + k * E, &v, E);
            const unsigned keep = v != 0;
            bits |= keep << j;
            k += keep;
        }
        map[i / 8] = uint8_t(bits);
    }
    return k;
}

// Branch-free on the bits as well (post-ReLU zeros fall at random): each element takes the next
// kept value or zero; the read stops at the last kept one.
template <size_t E>
void unpack(const uint8_t* map, const uint8_t* kept, size_t set, size_t n, uint8_t* out) {
    size_t k = 0;
    for (size_t i = 0; i < n; i += 8) {
        const size_t m = std::min<size_t>(8, n - i);
        unsigned bits = map[i / 8];
        if (bits == 0) {  // runs of zeros
            std::memset(out + i * E, 0, m * E);
            continue;
        }
        for (size_t j = 0; j < m; ++j, bits >>= 1) {
            Elem<E> v = 0;
            if (k < set) std::memcpy(&v, kept + k * E, E);
            const unsigned keep = bits & 1;
            v = keep ? v : Elem<E>(0);
            std::memcpy(out + (i + j) * E, &v, E);
            k += keep;
        }
    }
}

}  // namespace

void sparse_pack(const uint8_t* x, size_t n, size_t elem, std::vector<uint8_t>& out) {
    NSE_CHECK(elem == 1 || elem == 2 || elem == 4, ErrorCode::Internal, "sparse elements of ", elem,
              " bytes");
    const size_t at = out.size(), map_bytes = (n + 7) / 8;
    out.resize(at + map_bytes + n * elem);  // the worst case; trimmed below
    uint8_t* map = out.data() + at;
    uint8_t* kept = map + map_bytes;
    const size_t k = elem == 4   ? pack<4>(x, n, map, kept)
                     : elem == 2 ? pack<2>(x, n, map, kept)
                                 : pack<1>(x, n, map, kept);
    out.resize(at + map_bytes + k * elem);
}

void sparse_unpack(const uint8_t* in, size_t bytes, size_t n, size_t elem, uint8_t* out) {
    NSE_CHECK(elem == 1 || elem == 2 || elem == 4, ErrorCode::Internal, "sparse elements of ", elem,
              " bytes");
    const size_t map_bytes = (n + 7) / 8;
    if (bytes < map_bytes) bad("sparse tensor is shorter than its bitmap");
    size_t set = 0;
    for (size_t i = 0; i < map_bytes; ++i) set += size_t(__builtin_popcount(in[i]));
    if (n % 8 && (in[map_bytes - 1] >> (n % 8)))
        bad("sparse tensor's bitmap marks elements past its end");
    if (bytes - map_bytes != set * elem)
        bad("sparse tensor holds " + std::to_string(bytes - map_bytes) + " bytes of values; its " +
            "bitmap needs " + std::to_string(set * elem));
    if (elem == 4)
        unpack<4>(in, in + map_bytes, set, n, out);
    else if (elem == 2)
        unpack<2>(in, in + map_bytes, set, n, out);
    else
        unpack<1>(in, in + map_bytes, set, n, out);
}

bool encode_tensor(const float* x, const Shape& shape, WireEncoding enc,
                   std::vector<uint8_t>& out) {
    thread_local std::vector<uint8_t> body;
    body.clear();
    if (const int quality = jpeg_quality(enc.format)) {
        // int8's per-channel (lo, scale) pairs as they are, its values as a JPEG image.
        if (!jpeg_carries(shape) || !encode_format(x, shape, WireFormat::I8, body)) return false;
        const size_t head = size_t(wire_channels(shape)) * 8;
        out.insert(out.end(), body.begin(), body.begin() + ptrdiff_t(head));
        return jpeg_encode(body.data() + head, shape, quality, out);
    }
    if (enc.coding == WireCoding::Raw) return encode_format(x, shape, enc.format, out);
    if (!encode_format(x, shape, enc.format, body)) return false;
    const size_t at = out.size();
    if (enc.coding == WireCoding::Sparse) {
        sparse_pack(body.data(), body.size() / elem_bytes(enc.format), elem_bytes(enc.format), out);
    } else {
        out.resize(at + ZSTD_compressBound(body.size()));
        const size_t z = ZSTD_compressCCtx(zstd().c, out.data() + at, out.size() - at, body.data(),
                                           body.size(), kZstdLevel);
        NSE_CHECK(!ZSTD_isError(z), ErrorCode::Internal, "zstd: ", ZSTD_getErrorName(z));
        out.resize(at + z);
    }
    return true;
}

void decode_tensor(const uint8_t* in, size_t bytes, const Shape& shape, WireEncoding enc,
                   float* out) {
    const size_t want = format_bytes(shape, enc.format);
    thread_local std::vector<uint8_t> body;
    if (jpeg_quality(enc.format)) {
        const size_t head = size_t(wire_channels(shape)) * 8;
        if (bytes < head)
            bad(enc.name() + " tensor of shape " + shape_str(shape) + " is shorter than its " +
                std::to_string(head) + " bytes of scales");
        body.resize(want);
        std::memcpy(body.data(), in, head);
        jpeg_decode(in + head, bytes - head, shape, body.data() + head);
        return decode_format(body.data(), shape, WireFormat::I8, out);
    }
    if (enc.coding == WireCoding::Raw) {
        if (bytes != want)
            bad(enc.name() + " tensor of shape " + shape_str(shape) + " must be " +
                std::to_string(want) + " bytes, got " + std::to_string(bytes));
        return decode_format(in, shape, enc.format, out);
    }
    // The format's bytes, of exactly the size the receiver's shape gives: never larger.
    body.resize(want);
    if (enc.coding == WireCoding::Sparse) {
        sparse_unpack(in, bytes, want / elem_bytes(enc.format), elem_bytes(enc.format),
                      body.data());
    } else {
        const size_t z = ZSTD_decompressDCtx(zstd().d, body.data(), want, in, bytes);
        if (ZSTD_isError(z))
            bad(std::string("zstd tensor does not decode: ") + ZSTD_getErrorName(z));
        if (z != want)
            bad("zstd tensor decodes to " + std::to_string(z) + " bytes; its shape needs " +
                std::to_string(want));
    }
    decode_format(body.data(), shape, enc.format, out);
}

}  // namespace nse::net
