// wire_convert.h's conversions on the AVX2 and NEON paths (wire_convert_simd.cpp): 8 (4) lanes at
// a time, a portable loop for the rest, the same bits as the portable functions. The half
// conversions on x86-64 need F16C as well (every AVX2 CPU this project met has it; the caller
// checks).
#pragma once

#include <cstdint>

namespace nse::wire_simd {

void f32_to_f16(int64_t n, const float* x, uint16_t* y);
void f16_to_f32(int64_t n, const uint16_t* x, float* y);
void minmax_f32(int64_t n, const float* x, float* lo, float* hi);
void quantize_u8(int64_t n, const float* x, float lo, float inv_scale, uint8_t* q);
void dequantize_u8(int64_t n, const uint8_t* q, float lo, float scale, float* x);

}  // namespace nse::wire_simd
