// The shared SIMD kernels' vector for aarch64 with Advanced SIMD (NEON): four floats in a q
// register. Included only by simd_neon.cpp.
#pragma once

#include <arm_neon.h>

#include <cstdint>
#include <cstring>

namespace nse::neon {

struct Vf {
    float32x4_t v;
};
constexpr int kLanes = 4;
// The GEMM micro-tile: 12 rows x 8 columns is 24 accumulators, two vectors of B and the
// broadcast of A in the 32 q registers (2 loads and 12 load-broadcasts per 24 FMAs).
constexpr int kGemmRows = 12;
constexpr int kGemmVectors = 2;
// Rows of C the GEMM writes per sweep where the reduction is short (gemm_body.h's
// short_k_block): a whole micro-tile (fewer, as on AVX2, not measured on an ARM core).
constexpr int kGemmShortKRows = kGemmRows;
// Whether the GEMM's first pass over an A panel prefetches A (gemm_body.h): not measured on an
// ARM core, so off.
constexpr bool kGemmPrefetchA = false;
// Vector registers the kernels' register blocks are sized for (v0-v31).
constexpr int kVectorRegisters = 32;
// The direct convolution's channel tiles (direct_conv_body.h): up to 6 vectors (24 channels) per
// tile, wider groups in chunks of 4 (16 channels, so a chunk's weights stay in L1).
constexpr int kChannelTileVectors = 6;
constexpr int kChannelChunkVectors = 4;

inline Vf zero() { return {vdupq_n_f32(0.f)}; }
inline Vf set1(float x) { return {vdupq_n_f32(x)}; }
inline Vf load(const float* p) { return {vld1q_f32(p)}; }
inline void store(float* p, Vf x) { vst1q_f32(p, x.v); }
// The first n lanes from p (n may exceed the width), zero beyond; lanes past n are not read.
inline Vf load_n(const float* p, int64_t n) {
    if (n >= 4) return load(p);
    float t[4] = {0.f, 0.f, 0.f, 0.f};
    if (n > 0) std::memcpy(t, p, size_t(n) * sizeof(float));
    return load(t);
}
// Stores the first n lanes (n may exceed the width); memory past them is not touched.
inline void store_n(float* p, Vf x, int64_t n) {
    if (n >= 4) return store(p, x);
    float t[4];
    store(t, x);
    if (n > 0) std::memcpy(p, t, size_t(n) * sizeof(float));
}
inline Vf fma(Vf a, Vf b, Vf c) { return {vfmaq_f32(c.v, a.v, b.v)}; }
inline Vf add(Vf a, Vf b) { return {vaddq_f32(a.v, b.v)}; }
inline Vf max(Vf a, Vf b) { return {vmaxq_f32(a.v, b.v)}; }
inline Vf min(Vf a, Vf b) { return {vminq_f32(a.v, b.v)}; }
inline Vf mul(Vf a, Vf b) { return {vmulq_f32(a.v, b.v)}; }
inline Vf sub(Vf a, Vf b) { return {vsubq_f32(a.v, b.v)}; }
inline Vf div(Vf a, Vf b) { return {vdivq_f32(a.v, b.v)}; }
// Each lane rounded to the nearest integer (ties to even).
inline Vf round_nearest(Vf x) { return {vrndnq_f32(x.v)}; }
// 2^n for integer-valued lanes n in [-126, 127], by building the exponent field.
inline Vf pow2i(Vf n) {
    return {
        vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(vcvtnq_s32_f32(n.v), vdupq_n_s32(127)), 23))};
}
inline void lanes(Vf x, float* out) { vst1q_f32(out, x.v); }
// e where x >= t, 0 elsewhere.
inline Vf keep_at_least(Vf x, float t, Vf e) {
    return {vreinterpretq_f32_u32(
        vandq_u32(vcgeq_f32(x.v, vdupq_n_f32(t)), vreinterpretq_u32_f32(e.v)))};
}
// Lanes 0, 2, 4, 6 (even) and 1, 3, 5, 7 (odd) of the 8 values lo:hi: a stride-2 row's columns.
inline Vf even(Vf lo, Vf hi) { return {vuzp1q_f32(lo.v, hi.v)}; }
inline Vf odd(Vf lo, Vf hi) { return {vuzp2q_f32(lo.v, hi.v)}; }

// 16 floats split by column phase: d[j] lane l = p[4 l + j] (Winograd F(4x4)'s strips).
inline void deinterleave4(const float* p, Vf d[4]) {
    const float32x4x4_t q = vld4q_f32(p);
    for (int j = 0; j < 4; ++j) d[j] = {q.val[j]};
}
// The inverse: p[4 l + j] = o[j] lane l for 16 floats.
inline void interleave4(const Vf o[4], float* p) {
    vst4q_f32(p, float32x4x4_t{{o[0].v, o[1].v, o[2].v, o[3].v}});
}
// Lanes 1 .. 3 of d, then x.
inline Vf shift_in(Vf d, float x) { return {vextq_f32(d.v, vdupq_n_f32(x), 1)}; }

// y[j][i] = x[i][j] for a 4 x 4 tile (rows ldx and ldy floats apart).
inline void transpose_tile(const float* x, int64_t ldx, float* y, int64_t ldy) {
    const float32x4x2_t a = vtrnq_f32(vld1q_f32(x), vld1q_f32(x + ldx));
    const float32x4x2_t b = vtrnq_f32(vld1q_f32(x + 2 * ldx), vld1q_f32(x + 3 * ldx));
    vst1q_f32(y, vcombine_f32(vget_low_f32(a.val[0]), vget_low_f32(b.val[0])));
    vst1q_f32(y + ldy, vcombine_f32(vget_low_f32(a.val[1]), vget_low_f32(b.val[1])));
    vst1q_f32(y + 2 * ldy, vcombine_f32(vget_high_f32(a.val[0]), vget_high_f32(b.val[0])));
    vst1q_f32(y + 3 * ldy, vcombine_f32(vget_high_f32(a.val[1]), vget_high_f32(b.val[1])));
}

// Output rows of a block of the depthwise kernel: 8 chains of multiply-adds (with a 3x3 filter's
// 9 taps and the loaded vector, 18 of the 32 registers).
constexpr int kDepthwiseRows = 8;

}  // namespace nse::neon
