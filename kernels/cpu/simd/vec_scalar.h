// The shared SIMD kernels' "vector" for the generic path: one float. A body written against the
// vector interface compiles with it into plain scalar code (the compiler may still vectorise
// its loops for the baseline), so the generic path runs the same algorithm as the SIMD ones.
// Included only by simd_generic.cpp.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace nse::generic {

struct Vf {
    float v;
};
constexpr int kLanes = 1;

inline Vf zero() { return {0.f}; }
inline Vf set1(float x) { return {x}; }
inline Vf load(const float* p) { return {*p}; }
inline void store(float* p, Vf x) { *p = x.v; }
inline Vf load_n(const float* p, int64_t n) { return {n > 0 ? *p : 0.f}; }
inline void store_n(float* p, Vf x, int64_t n) {
    if (n > 0) *p = x.v;
}
// (a multiply and an add: the baseline has no FMA, and std::fma would be a library call)
inline Vf fma(Vf a, Vf b, Vf c) { return {a.v * b.v + c.v}; }
inline Vf add(Vf a, Vf b) { return {a.v + b.v}; }
inline Vf mul(Vf a, Vf b) { return {a.v * b.v}; }
inline Vf sub(Vf a, Vf b) { return {a.v - b.v}; }
inline Vf max(Vf a, Vf b) { return {a.v > b.v ? a.v : b.v}; }
inline Vf min(Vf a, Vf b) { return {a.v < b.v ? a.v : b.v}; }
inline void lanes(Vf x, float* out) { *out = x.v; }
// e where x >= t, 0 elsewhere.
inline Vf keep_at_least(Vf x, float t, Vf e) { return {x.v >= t ? e.v : 0.f}; }
inline Vf round_nearest(Vf x) { return {std::nearbyint(x.v)}; }
inline Vf pow2i(Vf n) {
    const int32_t bits = (int32_t(n.v) + 127) << 23;
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return {f};
}

}  // namespace nse::generic
