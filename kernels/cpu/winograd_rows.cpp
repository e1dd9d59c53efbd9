#include "kernels/cpu/winograd_rows.h"

#include <algorithm>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "base/error.h"
#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/simd/simd_kernels.h"

namespace nse {

bool winograd_input_rows_simd(int64_t tw, int64_t n, const float* t, float* v, int64_t vs) {
    switch (cpu_path()) {
#if defined(__x86_64__)
        case CpuPath::Avx512:
            return winograd_input_rows_avx512(tw, n, t, v, vs), true;
        case CpuPath::Avx2:
            return avx2::winograd_input_rows(tw, n, t, v, vs), true;
#endif
#if defined(__aarch64__)
        case CpuPath::Neon:
            return neon::winograd_input_rows(tw, n, t, v, vs), true;
#endif
        default:
            return false;
    }
}

bool winograd_output_rows_simd(int64_t tw, const float* m, int64_t ms, float* t, int64_t n) {
    switch (cpu_path()) {
#if defined(__x86_64__)
        case CpuPath::Avx512:
            return winograd_output_rows_avx512(tw, m, ms, t, n), true;
        case CpuPath::Avx2:
            return avx2::winograd_output_rows(tw, m, ms, t, n), true;
#endif
#if defined(__aarch64__)
        case CpuPath::Neon:
            return neon::winograd_output_rows(tw, m, ms, t, n), true;
#endif
        default:
            return false;
    }
}

#if defined(__x86_64__)
namespace {

// Permute indices (permutex2var: 0-15 pick from the first vector, 16-31 from the second).
struct Indices {
    // Column phase j of tiles 0-7 (from columns 0-31) in lanes 0-7, of tiles 8-15 (columns
    // 32-63) in lanes 8-15.
    alignas(64) int32_t phase_lo[4][16];
    alignas(64) int32_t phase_hi[4][16];
    // Phase 4 (5): phase 0 (1) one tile on, the last lane from the fifth vector's lane 0 (1).
    alignas(64) int32_t next[2][16];
    // Pairs (a[p], b[p]) of tiles 0-7 / 8-15, then two pairs of pairs per tile.
    alignas(64) int32_t pair_lo[16], pair_hi[16], quad_lo[16], quad_hi[16];

    Indices() {
        for (int j = 0; j < 4; ++j)
            for (int l = 0; l < 16; ++l) {
                phase_lo[j][l] = l < 8 ? 4 * l + j : 0;
                phase_hi[j][l] = l < 8 ? 0 : 4 * (l - 8) + j;
            }
        for (int j = 0; j < 2; ++j)
            for (int l = 0; l < 16; ++l) next[j][l] = l < 15 ? l + 1 : 16 + j;
        for (int p = 0; p < 8; ++p) {
            pair_lo[2 * p] = p, pair_lo[2 * p + 1] = 16 + p;
            pair_hi[2 * p] = 8 + p, pair_hi[2 * p + 1] = 24 + p;
        }
        for (int t = 0; t < 4; ++t)
            for (int h = 0; h < 2; ++h) {
                quad_lo[4 * t + h] = 2 * t + h, quad_lo[4 * t + 2 + h] = 16 + 2 * t + h;
                quad_hi[4 * t + h] = 8 + 2 * t + h, quad_hi[4 * t + 2 + h] = 24 + 2 * t + h;
            }
    }
};

const Indices& indices() {
    static const Indices idx;
    return idx;
}

__mmask16 lanes(int64_t n) { return lane_mask(n); }

__attribute__((target("avx512f"))) inline __m512i load_idx(const int32_t* p) {
    return _mm512_load_si512(p);
}

}  // namespace

__attribute__((target("avx512f"))) void winograd_input_rows_avx512(int64_t tw, int64_t n,
                                                                   const float* t, float* v,
                                                                   int64_t vs) {
    const Indices& ix = indices();
    __m512i lo[4], hi[4];
    for (int j = 0; j < 4; ++j) lo[j] = load_idx(ix.phase_lo[j]), hi[j] = load_idx(ix.phase_hi[j]);
    const __m512i next0 = load_idx(ix.next[0]), next1 = load_idx(ix.next[1]);
    const __m512 four = _mm512_set1_ps(4.f), five = _mm512_set1_ps(5.f), two = _mm512_set1_ps(2.f);
    for (int i = 0; i < 6; ++i) {
        const float* row = t + i * n;
        for (int64_t tx0 = 0; tx0 < tw; tx0 += 16) {
            const int64_t left = n - 4 * tx0;  // columns from this block's first on
            __m512 a[5];
            for (int q = 0; q < 5; ++q)
                a[q] = _mm512_maskz_loadu_ps(lanes(left - 16 * q), row + 4 * tx0 + 16 * q);
            __m512 d[6];
            for (int j = 0; j < 4; ++j)
                d[j] = _mm512_mask_blend_ps(0xFF00, _mm512_permutex2var_ps(a[0], lo[j], a[1]),
                                            _mm512_permutex2var_ps(a[2], hi[j], a[3]));
            d[4] = _mm512_permutex2var_ps(d[0], next0, a[4]);
            d[5] = _mm512_permutex2var_ps(d[1], next1, a[4]);
            // B^T d as in the scalar Tile<4>::input.
            __m512 o[6];
            o[0] = _mm512_add_ps(
                _mm512_sub_ps(_mm512_mul_ps(four, d[0]), _mm512_mul_ps(five, d[2])), d[4]);
            o[1] = _mm512_add_ps(
                _mm512_add_ps(_mm512_mul_ps(_mm512_set1_ps(-4.f), _mm512_add_ps(d[1], d[2])), d[3]),
                d[4]);
            o[2] = _mm512_add_ps(
                _mm512_sub_ps(_mm512_mul_ps(four, _mm512_sub_ps(d[1], d[2])), d[3]), d[4]);
            o[3] = _mm512_add_ps(_mm512_sub_ps(_mm512_mul_ps(two, _mm512_sub_ps(d[3], d[1])), d[2]),
                                 d[4]);
            o[4] = _mm512_add_ps(_mm512_sub_ps(_mm512_mul_ps(two, _mm512_sub_ps(d[1], d[3])), d[2]),
                                 d[4]);
            o[5] = _mm512_add_ps(
                _mm512_sub_ps(_mm512_mul_ps(four, d[1]), _mm512_mul_ps(five, d[3])), d[5]);
            const __mmask16 m = lanes(tw - tx0);
            for (int j = 0; j < 6; ++j) _mm512_mask_storeu_ps(v + (i * 6 + j) * vs + tx0, m, o[j]);
        }
    }
}

__attribute__((target("avx512f"))) void winograd_output_rows_avx512(int64_t tw, const float* m,
                                                                    int64_t ms, float* t,
                                                                    int64_t n) {
    const Indices& ix = indices();
    const __m512i pair_lo = load_idx(ix.pair_lo), pair_hi = load_idx(ix.pair_hi);
    const __m512i quad_lo = load_idx(ix.quad_lo), quad_hi = load_idx(ix.quad_hi);
    const __m512 two = _mm512_set1_ps(2.f), four = _mm512_set1_ps(4.f), eight = _mm512_set1_ps(8.f);
    for (int i = 0; i < 6; ++i) {
        float* row = t + i * n;
        for (int64_t tx0 = 0; tx0 < tw; tx0 += 16) {
            const __mmask16 in = lanes(tw - tx0);
            __m512 s[6];
            for (int k = 0; k < 6; ++k)
                s[k] = _mm512_maskz_loadu_ps(in, m + (i * 6 + k) * ms + tx0);
            // A^T m as in the scalar Tile<4>::output.
            const __m512 a = _mm512_add_ps(s[1], s[2]), b = _mm512_sub_ps(s[1], s[2]);
            const __m512 c = _mm512_add_ps(s[3], s[4]), d = _mm512_sub_ps(s[3], s[4]);
            const __m512 o0 = _mm512_add_ps(_mm512_add_ps(s[0], a), c);
            const __m512 o1 = _mm512_add_ps(b, _mm512_mul_ps(two, d));
            const __m512 o2 = _mm512_add_ps(a, _mm512_mul_ps(four, c));
            const __m512 o3 = _mm512_add_ps(_mm512_add_ps(b, _mm512_mul_ps(eight, d)), s[5]);
            // Interleave to columns 4 tx + j: pairs (o0, o1) and (o2, o3), then the pairs.
            const __m512 p01l = _mm512_permutex2var_ps(o0, pair_lo, o1);
            const __m512 p01h = _mm512_permutex2var_ps(o0, pair_hi, o1);
            const __m512 p23l = _mm512_permutex2var_ps(o2, pair_lo, o3);
            const __m512 p23h = _mm512_permutex2var_ps(o2, pair_hi, o3);
            const __m512 out[4] = {_mm512_permutex2var_ps(p01l, quad_lo, p23l),
                                   _mm512_permutex2var_ps(p01l, quad_hi, p23l),
                                   _mm512_permutex2var_ps(p01h, quad_lo, p23h),
                                   _mm512_permutex2var_ps(p01h, quad_hi, p23h)};
            const int64_t cols = 4 * std::min<int64_t>(16, tw - tx0);
            for (int q = 0; q < 4; ++q)
                _mm512_mask_storeu_ps(row + 4 * tx0 + 16 * q, lanes(cols - 16 * q), out[q]);
        }
    }
}
#else
void winograd_input_rows_avx512(int64_t, int64_t, const float*, float*, int64_t) {
    NSE_ASSERT(false);
}
void winograd_output_rows_avx512(int64_t, const float*, int64_t, float*, int64_t) {
    NSE_ASSERT(false);
}
#endif

}  // namespace nse
