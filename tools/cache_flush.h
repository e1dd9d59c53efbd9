// The micro-benchmarks' way to put a buffer out of the caches, as a network's other layers leave
// it (nse_bench_conv, nse_bench_pool).
#pragma once

#include <cstddef>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace nse::bench {

// Writes back and drops every cache line of p[0, n) (x86's clflush; elsewhere a buffer larger
// than the last-level cache is written over, which drops the input's lines too).
inline void flush_from_caches(const float* p, size_t n) {
#if defined(__x86_64__)
    for (size_t i = 0; i < n; i += 16) _mm_clflush(p + i);
    _mm_clflush(p + n - 1);
    _mm_mfence();
#else
    static std::vector<float> evict(size_t(64) << 20 >> 2);
    for (size_t i = 0; i < evict.size(); i += 16) evict[i] += 1.f;
    (void)p, (void)n;
#endif
}

}  // namespace nse::bench
