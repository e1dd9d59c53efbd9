// How a tensor crosses the network: an element format (fp32 as computed, IEEE half, 8-bit affine
// per channel, or those 8 bits as a JPEG image at quality 90, 75 or 50: wire_jpeg.h) and a
// lossless stage on top of it (none, a sparse form that drops all-zero elements, or zstd; JPEG
// takes none). One byte names the pair in a tensor descriptor (protocol.h); fp32 with no stage is
// byte 1, as protocol version 1 wrote it.
//
// The decoders trust nothing: the shape comes from the receiver's own model (never from the
// sender's sizes), every length is checked against it before anything is written, and the
// output is exactly numel(shape) floats. A lie gets ProtocolError(BadTensors).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/tensor.h"

namespace nse::net {

enum class WireFormat : uint8_t { F32 = 1, F16 = 2, I8 = 3, Jpeg90 = 4, Jpeg75 = 5, Jpeg50 = 6 };

// The JPEG formats' quality (1..100); 0 for the others.
int jpeg_quality(WireFormat f);
enum class WireCoding : uint8_t { Raw = 0, Sparse = 1, Zstd = 2 };

struct WireEncoding {
    WireFormat format = WireFormat::F32;
    WireCoding coding = WireCoding::Raw;

    uint8_t code() const { return uint8_t(uint8_t(format) | (uint8_t(coding) << 4)); }
    // fp32 with any lossless stage gives back the very floats that were sent.
    bool lossless() const { return format == WireFormat::F32; }
    bool raw_f32() const { return format == WireFormat::F32 && coding == WireCoding::Raw; }
    // Whether the shape alone gives the size (a plain format; not JPEG, not a lossless stage).
    bool fixed_size() const { return coding == WireCoding::Raw && jpeg_quality(format) == 0; }
    // "fp32", "fp16", "int8", with "+sparse" or "+zstd"; "jpeg90", "jpeg75", "jpeg50".
    std::string name() const;
    bool operator==(const WireEncoding& o) const {
        return format == o.format && coding == o.coding;
    }
    bool operator!=(const WireEncoding& o) const { return !(*this == o); }
};

// The encoding a descriptor byte names; throws ProtocolError(BadTensors) for any other byte.
WireEncoding encoding_from_code(uint8_t code);
// The encoding of a name as name() writes it; throws Error(InvalidArgument) listing the names.
WireEncoding parse_encoding(const std::string& name);
// All twelve, fp32 first.
const std::vector<WireEncoding>& all_encodings();
// The names of all_encodings(), comma-separated (for help texts and errors).
std::string encoding_names();

// int8 keeps one (lo, scale) pair per channel, dimension 1 of a tensor of rank >= 3 (NCHW's C, a
// token sequence's position), where each channel holds at least kMinValuesPerChannel values per
// batch item; else one pair for the whole tensor (features, logits, 1x1 maps), where a pair per
// channel would cost more than it saves.
constexpr int64_t kMinValuesPerChannel = 32;
int64_t wire_channels(const Shape& shape);
// Bytes of the element format alone (before the lossless stage); for JPEG, the int8 bytes it
// compresses (what it sends is known only once encoded).
size_t format_bytes(const Shape& shape, WireFormat format);

// Appends the encoded tensor to `out`. False (and `out` unchanged) when the encoding cannot carry
// it: int8 or JPEG of a tensor with infinities or NaNs, JPEG of a shape it does not carry
// (jpeg_carries: not NCHW, or planes under 4x4); send it as fp32 then.
bool encode_tensor(const float* x, const Shape& shape, WireEncoding enc, std::vector<uint8_t>& out);
// Decodes `bytes` bytes at `in` into exactly numel(shape) floats at `out`.
void decode_tensor(const uint8_t* in, size_t bytes, const Shape& shape, WireEncoding enc,
                   float* out);

// The sparse stage on its own: elements of `elem` bytes (1, 2 or 4); a bitmap of n bits (bit i of
// byte i/8: element i is kept), then the kept elements, those whose bytes are not all zero.
void sparse_pack(const uint8_t* x, size_t n, size_t elem, std::vector<uint8_t>& out);
// Unpacks exactly n elements into `out`; throws ProtocolError(BadTensors) when `bytes` does not
// hold the bitmap and as many elements as it has bits set (or bits beyond n are set).
void sparse_unpack(const uint8_t* in, size_t bytes, size_t n, size_t elem, uint8_t* out);

}  // namespace nse::net
