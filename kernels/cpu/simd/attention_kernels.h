// The attention kernel of one head (attention_body.h), compiled once per path: nse::avx512 and
// nse::avx2 (simd_avx512.cpp, simd_avx2.cpp) on x86-64, nse::neon (simd_neon.cpp) on aarch64,
// nse::generic (simd_generic.cpp, one float per "vector") everywhere. attention.cpp picks.
#pragma once

#include <cstdint>

// The most queries any path's kernel keeps in a register block (its scratch holds that many rows
// of scores).
constexpr int64_t kAttentionMaxRows = 8;

// Queries q0..q1 of one head over L keys: q, k, v point at the head's first column of rows `ld`
// apart, o at its first output column of rows `ldo` apart; bias and mask (L x L, or null) are
// added to the scores; `normalize`: q and k L2-normalised first (cosine attention); scratch
// holds the kernel's (d + 8) lp floats.
#define NSE_DECLARE_ATTENTION_KERNEL                                                               \
    void attention_head(int64_t L, int64_t d, const float* q, const float* k, const float* v,      \
                        int64_t ld, float scale, const float* bias, const float* mask,             \
                        bool normalize, float* o, int64_t ldo, int64_t q0, int64_t q1, int64_t lp, \
                        float* scratch);

namespace nse {
namespace generic {
NSE_DECLARE_ATTENTION_KERNEL
}
#if defined(__x86_64__)
namespace avx512 {
NSE_DECLARE_ATTENTION_KERNEL
}
namespace avx2 {
NSE_DECLARE_ATTENTION_KERNEL
}
#endif
#if defined(__aarch64__)
namespace neon {
NSE_DECLARE_ATTENTION_KERNEL
}
#endif
}  // namespace nse
