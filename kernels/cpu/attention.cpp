#include "kernels/cpu/attention.h"

#include <algorithm>

#include "base/thread_pool.h"
#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/simd/attention_kernels.h"

namespace nse {

namespace {

size_t scratch_floats(int64_t L, int64_t d) {
    const int64_t lp = attention_padded_tokens(L);
    return size_t(d * lp + kAttentionMaxRows * lp);
}

using HeadKernel = void (*)(int64_t, int64_t, const float*, const float*, const float*, int64_t,
                            float, const float*, const float*, bool, float*, int64_t, int64_t,
                            int64_t, int64_t, float*);

HeadKernel head_kernel() {
    switch (cpu_path()) {
#if defined(__x86_64__)
        case CpuPath::Avx512:
            return avx512::attention_head;
        case CpuPath::Avx2:
            return avx2::attention_head;
#endif
#if defined(__aarch64__)
        case CpuPath::Neon:
            return neon::attention_head;
#endif
        default:
            return generic::attention_head;
    }
}

}  // namespace

int64_t attention_padded_tokens(int64_t keys) { return (keys + 15) / 16 * 16; }

size_t attention_workspace_floats(const AttentionShape& sh, int threads) {
    return scratch_floats(sh.keys(), sh.d) * size_t(std::max(threads, 1));
}

void attention_f32_cpu(ThreadPool& pool, const AttentionShape& sh, const AttentionTerms& t,
                       const float* qkv, float* out, float* workspace) {
    const float* bias = t.bias;
    const float* mask = t.mask;
    const int64_t E = sh.heads * sh.d, L = sh.keys(), lp = attention_padded_tokens(L);
    const int64_t heads = sh.heads, d = sh.d;
    const size_t scratch = scratch_floats(L, d);
    // Units of (image, window, head, block of queries): a head's queries are split only where
    // there are fewer heads and windows than twice the threads, never below 16 queries a unit.
    const int64_t groups = sh.batch * sh.windows() * heads;
    const int64_t want = (2 * int64_t(pool.size()) + groups - 1) / groups;
    const int64_t chunks = std::clamp<int64_t>(want, 1, std::max<int64_t>(1, L / 16));
    const int64_t units = groups * chunks;
    const int parts = int(std::min<int64_t>(units, pool.size()));
    const HeadKernel kernel = head_kernel();
    const double work = 4.0 * double(groups) * L * L * d;
    // One index per part: part i runs units [units i / parts, units (i + 1) / parts) with its
    // own scratch (the pool runs each index on one thread, or all of them inline).
    pool.parallel_for(parts, work, [&](int64_t p0, int64_t p1) {
        for (int64_t p = p0; p < p1; ++p) {
            float* own = workspace + size_t(p) * scratch;
            for (int64_t u = units * p / parts; u < units * (p + 1) / parts; ++u) {
                const int64_t group = u / chunks, c = u % chunks;
                const int64_t window = group / heads, h = group % heads;  // window of all images
                const float* rows = qkv + window * L * 3 * E + h * d;
                const float* b = bias ? bias + h * L * L : nullptr;
                const float* m = mask ? mask + (window % sh.windows() % t.masks) * L * L : nullptr;
                const float scale = t.head_scale ? t.head_scale[h] : t.scale;
                kernel(L, d, rows, rows + E, rows + 2 * E, 3 * E, scale, b, m, t.normalize,
                       out + window * L * E + h * d, E, L * c / chunks, L * (c + 1) / chunks, lp,
                       own);
            }
        }
    });
}

}  // namespace nse
