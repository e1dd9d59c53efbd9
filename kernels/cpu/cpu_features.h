// What the CPU the process runs on can do, asked once (kernels pick their AVX-512 paths by it).
#pragma once

#include <cstdint>

namespace nse {

inline bool cpu_has_avx512() {
#if defined(__x86_64__)
    static const bool yes = __builtin_cpu_supports("avx512f");
    return yes;
#else
    return false;
#endif
}

// The mask of the first n of 16 vector lanes (n clamped to [0, 16]), for AVX-512's masked loads,
// stores and gathers (a __mmask16 is this integer).
inline uint16_t lane_mask(int64_t n) {
    return n >= 16 ? uint16_t(0xFFFF) : n <= 0 ? uint16_t(0) : uint16_t((1u << n) - 1);
}

}  // namespace nse
