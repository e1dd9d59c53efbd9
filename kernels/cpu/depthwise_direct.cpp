#include "kernels/cpu/depthwise_direct.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "base/error.h"
#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/simd/simd_kernels.h"

namespace nse {

bool depthwise_direct_applies(const ConvShape& sh) {
    const CpuPath path = cpu_path();
    if (path == CpuPath::Generic || !sh.depthwise() || sh.r != sh.s || sh.dil_h != 1 ||
        sh.dil_w != 1 || sh.stride_h != sh.stride_w || (sh.stride_h != 1 && sh.stride_h != 2))
        return false;
    const int64_t K = sh.r;
    return (K == 3 || K == 5 || K == 7) && sh.pad_h <= K / 2 && sh.pad_w <= K / 2;
}

#if defined(__x86_64__)
namespace {

// Lanes l whose input column c0 + l lies inside [0, w): the others load as zero (padding).
__mmask16 columns(int64_t c0, int64_t w) { return lane_mask(w - c0) & ~lane_mask(-c0); }

struct Plane {
    const float* x;  // input plane, H x W
    float* y;        // output plane, P x Q
    __m512 w[9];     // the taps, r-major
    __m512 bias;
    Activation act;
};

__attribute__((target("avx512f"))) inline void store(const Plane& pl, float* out, __mmask16 m,
                                                     __m512 acc) {
    acc = _mm512_add_ps(acc, pl.bias);
    // (the masked forms: GCC 12 warns about its own header in the plain ones)
    if (pl.act != Activation::None) acc = _mm512_mask_max_ps(acc, 0xFFFF, acc, _mm512_setzero_ps());
    if (pl.act == Activation::Relu6)
        acc = _mm512_mask_min_ps(acc, 0xFFFF, acc, _mm512_set1_ps(6.f));
    _mm512_mask_storeu_ps(out, m, acc);
}

// A block's sums out to rows [p, p + ROWS) and vectors of columns from i, those inside the
// plane. Unrolled with no early exit, so the sums stay in registers (see packed_gemm.cpp).
template <int ROWS, int VECS>
__attribute__((target("avx512f"), always_inline)) inline void store_block(
    const ConvShape& sh, const Plane& pl, int64_t p, int64_t i, const __m512 (&acc)[ROWS][VECS]) {
    const int64_t P = sh.p(), Q = sh.q();
#pragma GCC unroll 8
    for (int r = 0; r < ROWS; ++r)
#pragma GCC unroll 4
        for (int v = 0; v < VECS; ++v)
            if (p + r < P)
                store(pl, pl.y + (p + r) * Q + i + 16 * v, lane_mask(Q - i - 16 * v), acc[r][v]);
}

// A block of output rows [p, p + ROWS) by VECS vectors of 16 columns from i (rows and columns
// past the plane's are computed but not stored). Each tap's sum is a chain of 9 dependent
// multiply-adds, so a block keeps ROWS * VECS (6 or 8) of them going at once; each input row is
// loaded once per block and serves every output row it is a tap row of. Rows outside the plane
// are skipped (their taps would add zeros).
template <int ROWS, int VECS>
__attribute__((target("avx512f"), always_inline)) inline void block_stride1(const ConvShape& sh,
                                                                            const Plane& pl,
                                                                            int64_t p, int64_t i) {
    const int64_t H = sh.h, W = sh.w;
    __mmask16 m[VECS][3];
    for (int v = 0; v < VECS; ++v)
        for (int s = 0; s < 3; ++s) m[v][s] = columns(i + 16 * v - sh.pad_w + s, W);
    __m512 acc[ROWS][VECS];
    for (int r = 0; r < ROWS; ++r)
        for (int v = 0; v < VECS; ++v) acc[r][v] = _mm512_setzero_ps();
#pragma GCC unroll 10
    for (int t = 0; t < ROWS + 2; ++t) {
        const int64_t ih = p - sh.pad_h + t;
        if (ih < 0 || ih >= H) continue;
        const float* row = pl.x + ih * W + i - sh.pad_w;
#pragma GCC unroll 4
        for (int v = 0; v < VECS; ++v)
#pragma GCC unroll 3
            for (int s = 0; s < 3; ++s) {
                const __m512 x = _mm512_maskz_loadu_ps(m[v][s], row + 16 * v + s);
#pragma GCC unroll 8
                for (int r = 0; r < ROWS; ++r)  // output row p + r: tap row t - r
                    if (t - r >= 0 && t - r < 3)
                        acc[r][v] = _mm512_fmadd_ps(pl.w[(t - r) * 3 + s], x, acc[r][v]);
            }
    }
    store_block<ROWS, VECS>(sh, pl, p, i, acc);
}

// The same for stride 2: output lane l reads input columns 2 (i + l) - pad + s. The 32 columns
// from 2 i - pad split into even (s = 0) and odd (s = 1) ones by two permutes; s = 2 is the even
// ones moved on by one lane, the last from a one-lane load of the column after them.
template <int ROWS, int VECS>
__attribute__((target("avx512f"), always_inline)) inline void block_stride2(const ConvShape& sh,
                                                                            const Plane& pl,
                                                                            int64_t p, int64_t i) {
    const int64_t H = sh.h, W = sh.w;
    alignas(64) static const int32_t kEven[16] = {0,  2,  4,  6,  8,  10, 12, 14,
                                                  16, 18, 20, 22, 24, 26, 28, 30};
    alignas(64) static const int32_t kOdd[16] = {1,  3,  5,  7,  9,  11, 13, 15,
                                                 17, 19, 21, 23, 25, 27, 29, 31};
    const __m512i ie = _mm512_load_si512(kEven), io = _mm512_load_si512(kOdd);
    __mmask16 m[VECS][3];
    for (int v = 0; v < VECS; ++v) {
        const int64_t base = 2 * (i + 16 * v) - sh.pad_w;
        m[v][0] = columns(base, W), m[v][1] = columns(base + 16, W);
        m[v][2] = columns(base + 32, W) & 1;
    }
    __m512 acc[ROWS][VECS];
    for (int r = 0; r < ROWS; ++r)
        for (int v = 0; v < VECS; ++v) acc[r][v] = _mm512_setzero_ps();
#pragma GCC unroll 10
    for (int t = 0; t < 2 * ROWS + 1; ++t) {
        const int64_t ih = 2 * p - sh.pad_h + t;
        if (ih < 0 || ih >= H) continue;
        const float* row = pl.x + ih * W + 2 * i - sh.pad_w;
#pragma GCC unroll 4
        for (int v = 0; v < VECS; ++v) {
            const float* in = row + 32 * v;
            const __m512 lo = _mm512_maskz_loadu_ps(m[v][0], in);
            const __m512 hi = _mm512_maskz_loadu_ps(m[v][1], in + 16);
            const __m512 next = _mm512_maskz_loadu_ps(m[v][2], in + 32);
            __m512 x[3];
            x[0] = _mm512_permutex2var_ps(lo, ie, hi);
            x[1] = _mm512_permutex2var_ps(lo, io, hi);
            x[2] = _mm512_castsi512_ps(_mm512_maskz_alignr_epi32(0xFFFF, _mm512_castps_si512(next),
                                                                 _mm512_castps_si512(x[0]), 1));
#pragma GCC unroll 8
            for (int r = 0; r < ROWS; ++r)  // output row p + r: tap row t - 2 r
                if (t - 2 * r >= 0 && t - 2 * r < 3)
                    for (int s = 0; s < 3; ++s)
                        acc[r][v] = _mm512_fmadd_ps(pl.w[(t - 2 * r) * 3 + s], x[s], acc[r][v]);
        }
    }
    store_block<ROWS, VECS>(sh, pl, p, i, acc);
}

// A plane in blocks of ROWS x VECS (VECS vectors of columns fill the row where it is short).
template <int ROWS, int VECS>
__attribute__((target("avx512f"))) void plane_blocks(const ConvShape& sh, const Plane& pl) {
    const int64_t P = sh.p(), Q = sh.q();
    for (int64_t p = 0; p < P; p += ROWS)
        for (int64_t i = 0; i < Q; i += 16 * VECS)
            if (sh.stride_h == 1)
                block_stride1<ROWS, VECS>(sh, pl, p, i);
            else
                block_stride2<ROWS, VECS>(sh, pl, p, i);
}

__attribute__((target("avx512f"))) void depthwise3x3_avx512(const ConvShape& sh, const float* x,
                                                            const float* w, const float* b,
                                                            Activation act, float* y, int64_t first,
                                                            int64_t last) {
    for (int64_t plane = first; plane < last; ++plane) {
        const int64_t c = plane % sh.c;
        Plane pl;
        pl.x = x + plane * sh.h * sh.w;
        pl.y = y + plane * sh.p() * sh.q();
        for (int k = 0; k < 9; ++k) pl.w[k] = _mm512_set1_ps(w[c * 9 + k]);
        pl.bias = _mm512_set1_ps(b ? b[c] : 0.f);
        pl.act = act;
        // Rows of one vector (7x7, 14x14 maps) go 8 at a time, of two (28x28) 4, longer ones
        // two rows of up to four vectors.
        const int64_t vecs = (sh.q() + 15) / 16;
        if (vecs == 1)
            plane_blocks<8, 1>(sh, pl);
        else if (vecs == 2)
            plane_blocks<4, 2>(sh, pl);
        else if (vecs == 3)
            plane_blocks<2, 3>(sh, pl);
        else
            plane_blocks<2, 4>(sh, pl);
    }
}
}  // namespace
#endif

size_t depthwise_direct_scratch_floats(const ConvShape& sh) {
    switch (cpu_path()) {
#if defined(__x86_64__)
        case CpuPath::Avx2:
            return avx2::depthwise_scratch_floats(sh);
        case CpuPath::Avx512:  // 3x3 reads the input planes where they lie
            return sh.r == 3 ? 0 : avx512::depthwise_scratch_floats(sh);
#endif
#if defined(__aarch64__)
        case CpuPath::Neon:
            return neon::depthwise_scratch_floats(sh);
#endif
        default:
            return 0;
    }
}

double depthwise_direct_row_vectors(const ConvShape& sh) {
    const double sixteens = double((sh.q() + 15) / 16);
    if (!depthwise_direct_applies(sh)) return sixteens;
    switch (cpu_path()) {
#if defined(__x86_64__)
        case CpuPath::Avx2:
            return avx2::depthwise_row_vectors(sh);
        case CpuPath::Avx512:  // 3x3: rows of 16-lane vectors of one plane
            return sh.r == 3 ? sixteens : avx512::depthwise_row_vectors(sh);
#endif
#if defined(__aarch64__)
        case CpuPath::Neon:
            return neon::depthwise_row_vectors(sh);
#endif
        default:
            return sixteens;
    }
}

void depthwise_direct_f32_cpu(const ConvShape& sh, const float* x, const float* w, const float* b,
                              Activation act, float* y, int64_t first, int64_t last,
                              float* scratch) {
    NSE_CHECK(depthwise_direct_applies(sh), ErrorCode::Internal,
              "depthwise_direct needs a SIMD path and a depthwise shape it takes");
    switch (cpu_path()) {
#if defined(__x86_64__)
        case CpuPath::Avx512:
            if (sh.r == 3) return depthwise3x3_avx512(sh, x, w, b, act, y, first, last);
            return avx512::depthwise(sh, x, w, b, act, y, first, last, scratch);
        case CpuPath::Avx2:
            return avx2::depthwise(sh, x, w, b, act, y, first, last, scratch);
#endif
#if defined(__aarch64__)
        case CpuPath::Neon:
            return neon::depthwise(sh, x, w, b, act, y, first, last, scratch);
#endif
        default:
            break;
    }
}

}  // namespace nse
