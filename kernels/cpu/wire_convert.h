// Element conversions for tensors that cross the network (net/wire_codec.h): float to IEEE half
// and back, and 8-bit affine quantisation (q = round((x - lo) / scale), clamped to [0, 255];
// x' = lo + q * scale). On the path cpu_path() chose: AVX-512, AVX2 (+ F16C for the halves) or
// NEON (wire_convert_simd.h), a portable loop otherwise; all give the same bits, and the portable
// ones are exposed so their tests compare every path with them. All run on the calling thread: a
// cut's tensors are a few hundred kilobytes.
#pragma once

#include <cstdint>

namespace nse {

// IEEE binary16, rounded to nearest even; overflow goes to infinity, NaN stays NaN.
void f32_to_f16(int64_t n, const float* x, uint16_t* y);
void f16_to_f32(int64_t n, const uint16_t* x, float* y);
void f32_to_f16_portable(int64_t n, const float* x, uint16_t* y);
void f16_to_f32_portable(int64_t n, const uint16_t* x, float* y);

// The smallest and largest of x[0..n) (n >= 1); both NaN when any value is NaN.
void minmax_f32(int64_t n, const float* x, float* lo, float* hi);
void minmax_f32_portable(int64_t n, const float* x, float* lo, float* hi);

// q[i] = clamp(round_to_nearest_even((x[i] - lo) * inv_scale), 0, 255) (NaN gives 0).
void quantize_u8(int64_t n, const float* x, float lo, float inv_scale, uint8_t* q);
void quantize_u8_portable(int64_t n, const float* x, float lo, float inv_scale, uint8_t* q);
// x[i] = lo + q[i] * scale, one fused multiply-add (the same bits on every path).
void dequantize_u8(int64_t n, const uint8_t* q, float lo, float scale, float* x);
void dequantize_u8_portable(int64_t n, const uint8_t* q, float lo, float scale, float* x);

}  // namespace nse
