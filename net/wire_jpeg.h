// JPEG as a wire format: the 8-bit planes of an int8-quantised NCHW tensor (wire_codec.h: each
// channel stretched to 0..255 by its own lo and scale) compressed with libjpeg-turbo (Debian
// libturbojpeg0-dev). Lossy; how much a model's answer survives it is measured per cut by
// `nsengine calibrate`, like the other lossy formats.
//
// Layout, derived from the shape alone (the decoder never trusts the sender's sizes):
// - 3 channels (a picture: the input at cut 0): one RGB image, W wide and N*H high, chroma
//   not subsampled (a tensor's channels need not be a photograph's; 4:2:0 saves ~16 % on the
//   skimage photographs);
// - any other channel count (feature maps): one greyscale mosaic of the N*C planes, each in a
//   cell of H and W rounded up to 8 (the JPEG block; the plane's last row and column repeated
//   into the rest, so no block mixes two planes), cells in a grid about as wide as high.
// Tensors of another rank, planes under 4x4, or images past JPEG's 65535-pixel side are not
// carried (jpeg_encode returns false; the sender uses fp32 then).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "base/tensor.h"

namespace nse::net {

// Whether the JPEG formats carry a tensor of this shape.
bool jpeg_carries(const Shape& shape);

// Compresses the planar 8-bit values q (numel(shape) of them, NCHW order) at `quality` (1..100)
// and appends the JPEG stream to `out`. False when !jpeg_carries(shape).
bool jpeg_encode(const uint8_t* q, const Shape& shape, int quality, std::vector<uint8_t>& out);

// Decodes a stream jpeg_encode wrote for `shape` into exactly numel(shape) values at `q`; throws
// ProtocolError(BadTensors) when the stream is not a JPEG of the layout the shape gives, is
// truncated or corrupt (libjpeg-turbo's warnings count as errors), or the shape is not carried.
void jpeg_decode(const uint8_t* in, size_t bytes, const Shape& shape, uint8_t* q);

}  // namespace nse::net
