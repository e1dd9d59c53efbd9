// The AVX-512 row layout's GEMM (packed_gemm.h): C's rows in A's 12-row panels, its columns in
// tiles of two 16-lane vectors, B packed per tile or read where it lies, a row of tiles ended by
// a one-vector tile and column tails. Hand-tuned apart from the shared bodies (simd/gemm_body.h
// is the AVX2 and NEON form); packed_gemm.cpp dispatches to it.
#include <algorithm>
#include <cstdint>
#include <memory>

#include "base/tensor.h"
#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/packed_gemm.h"
#include "kernels/cpu/simd/simd_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

namespace nse::avx512 {

namespace {
constexpr int64_t kMr = PackedWeights::kPanelRows;
constexpr int64_t kNr = 32;   // columns per micro-tile: two AVX-512 vectors
constexpr int64_t kKc = 256;  // values of K per packed B panel (32 KB)
// Columns of C per block: B packed for this many tiles (256 KB at kKc), then each A panel over
// the block's tiles. A tile at a time over every panel wrote C as M runs of 128 bytes, each row a
// stream of its own, and a layer's output, last touched an inference ago, waited on memory for
// every line (`nse_bench_conv --cold-output`, 1 thread, six alternating rounds: 32 -> 16
// channels at 112x112 0.66 of the time, 24 -> 144 at 56x56 0.58, 64 -> 256 at 56x56 0.76,
// 32 -> 192 at 28x28 0.61, 512 -> 128 at 28x28 0.94; with the output in the caches 0.93-1.05).
constexpr int64_t kBlockTiles = 8;
// The micro-kernel's first pass over an A panel (the first column tile of a block) asks for A this
// many values of K ahead; later passes find A in L1 or L2. Where the weights come from memory
// (a network's weights pushed out by its other layers), the hardware's prefetch alone left the
// first pass waiting on them: ResNet-18's 128-channel Winograd products (36 GEMMs of 128 x 49 x
// 128, each a 64 KB A) took 0.53 ms a layer in a chain of 48 such layers and 0.42 in a chain
// of 3; with this, 0.45-0.47 and 0.42 (2 threads); in ResNet-18 at 1 thread 0.94-1.05 ->
// 0.78-0.89 ms.
constexpr int64_t kPrefetchAhead = 64;

using Epilogue = GemmTileEpilogue;

__mmask16 lanes(int64_t n) { return lane_mask(n); }

// B[k0.., j..j+cols) -> bp[kc][32], columns beyond `cols` zero.
__attribute__((target("avx512f"))) void pack_b(int64_t kc, const float* b, int64_t ldb,
                                               __mmask16 m0, __mmask16 m1, float* bp) {
    for (int64_t kk = 0; kk < kc; ++kk) {
        const float* row = b + kk * ldb;
        _mm512_store_ps(bp + kk * kNr, _mm512_maskz_loadu_ps(m0, row));
        _mm512_store_ps(bp + kk * kNr + 16, _mm512_maskz_loadu_ps(m1, row + 16));
    }
}

// C[rows, 32-column tile] (+)= A panel (MR rows, kc values, k-major) x B[kc][32], B's rows
// `ldb` apart (kNr in a packed panel); lanes outside m0/m1 are neither read nor written.
// kPrefetchA: A is read for the first time in this block (kPrefetchAhead). NV: the vectors of
// columns computed, 1 for a last tile of at most 16 columns (m1 empty: a 14x14 map's 196 columns
// end in a tile of 4, which cost a whole tile's multiply-adds with 2).
template <int MR, bool kPrefetchA, int NV>
__attribute__((target("avx512f"), always_inline)) inline void micro_kernel(
    int64_t kc, const float* ap, const float* bp, int64_t ldb, float* c, int64_t ldc, int64_t rows,
    __mmask16 m0, __mmask16 m1, const Epilogue& e) {
    static_assert(NV == 1 || NV == 2, "one or two vectors of columns");
    __m512 lo[MR], hi[MR];
    for (int r = 0; r < MR; ++r) lo[r] = hi[r] = _mm512_setzero_ps();
    for (int64_t kk = 0; kk < kc; ++kk) {
        const __m512 b0 = _mm512_maskz_loadu_ps(m0, bp + kk * ldb);
        __m512 b1 = _mm512_setzero_ps();
        if constexpr (NV == 2) b1 = _mm512_maskz_loadu_ps(m1, bp + kk * ldb + 16);
        _mm_prefetch(reinterpret_cast<const char*>(bp + (kk + 8) * ldb), _MM_HINT_T0);
        if (kPrefetchA)
            _mm_prefetch(reinterpret_cast<const char*>(ap + (kk + kPrefetchAhead) * MR),
                         _MM_HINT_T0);
#pragma GCC unroll 12
        for (int r = 0; r < MR; ++r) {
            const __m512 a = _mm512_set1_ps(ap[kk * MR + r]);
            lo[r] = _mm512_fmadd_ps(a, b0, lo[r]);
            if constexpr (NV == 2) hi[r] = _mm512_fmadd_ps(a, b1, hi[r]);
        }
    }
    const __m512 zero = _mm512_setzero_ps(), six = _mm512_set1_ps(6.f);
    // Unrolled, with no early exit: a loop GCC cannot unroll indexes lo/hi at run time and keeps
    // them on the stack, storing every accumulator there on each value of K (K <= 16 products
    // ran at a quarter of the peak that way).
#pragma GCC unroll 12
    for (int r = 0; r < MR; ++r) {
        if (r >= rows) continue;
        float* cr = c + r * ldc;
        __m512 x = lo[r], y = hi[r];
        if (e.accumulate) {
            x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(m0, cr));
            if constexpr (NV == 2) y = _mm512_add_ps(y, _mm512_maskz_loadu_ps(m1, cr + 16));
        }
        if (e.last) {
            if (e.bias) {
                const __m512 bv = _mm512_set1_ps(e.bias[r]);
                x = _mm512_add_ps(x, bv);
                y = _mm512_add_ps(y, bv);
            }
            // (the masked forms: GCC 12 warns about its own header in the plain ones)
            if (e.act != Activation::None) {
                x = _mm512_mask_max_ps(x, 0xFFFF, x, zero);
                y = _mm512_mask_max_ps(y, 0xFFFF, y, zero);
            }
            if (e.act == Activation::Relu6) {
                x = _mm512_mask_min_ps(x, 0xFFFF, x, six);
                y = _mm512_mask_min_ps(y, 0xFFFF, y, six);
            }
        }
        _mm512_mask_storeu_ps(cr, m0, x);
        if constexpr (NV == 2) _mm512_mask_storeu_ps(cr + 16, m1, y);
    }
}

// micro_kernel for a panel of `pr` rows (12, 8 or 4).
template <int NV>
__attribute__((target("avx512f"), always_inline)) inline void tile(
    bool first_read, int64_t pr, int64_t kc, const float* ap, const float* bp, int64_t ldb,
    float* ct, int64_t ldc, int64_t rows, __mmask16 m0, __mmask16 m1, const Epilogue& e) {
    if (first_read) {
        if (pr == 12)
            micro_kernel<12, true, NV>(kc, ap, bp, ldb, ct, ldc, rows, m0, m1, e);
        else if (pr == 8)
            micro_kernel<8, true, NV>(kc, ap, bp, ldb, ct, ldc, rows, m0, m1, e);
        else
            micro_kernel<4, true, NV>(kc, ap, bp, ldb, ct, ldc, rows, m0, m1, e);
    } else if (pr == 12)
        micro_kernel<12, false, NV>(kc, ap, bp, ldb, ct, ldc, rows, m0, m1, e);
    else if (pr == 8)
        micro_kernel<8, false, NV>(kc, ap, bp, ldb, ct, ldc, rows, m0, m1, e);
    else
        micro_kernel<4, false, NV>(kc, ap, bp, ldb, ct, ldc, rows, m0, m1, e);
}

// C[rows, C columns] (+)= A panel (pr rows, kc values, k-major) x B[kc][C] (B's rows `ldb`
// apart) with the panel's rows in the lanes of one vector per column: the few columns left after
// a row of tiles (a 7x7 map's 49th), which a tile computed as a whole vector for one column. Per
// value of K one load of A and a broadcast of B per column; the columns' sums go to C through a
// small buffer (a row apart in C: one store per row).
template <int C>
__attribute__((target("avx512f"))) void column_tail(int64_t kc, const float* ap, int64_t pr,
                                                    const float* bp, int64_t ldb, float* c,
                                                    int64_t ldc, int64_t rows, const Epilogue& e) {
    const __mmask16 panel = lanes(pr), live = lanes(rows);
    __m512 acc[C];
    for (int j = 0; j < C; ++j) acc[j] = _mm512_setzero_ps();
    for (int64_t kk = 0; kk < kc; ++kk) {
        const __m512 a = _mm512_maskz_loadu_ps(panel, ap + kk * pr);
        for (int j = 0; j < C; ++j)
            acc[j] = _mm512_fmadd_ps(a, _mm512_set1_ps(bp[kk * ldb + j]), acc[j]);
    }
    const __m512 zero = _mm512_setzero_ps(), six = _mm512_set1_ps(6.f);
    alignas(64) float t[16];
    for (int j = 0; j < C; ++j) {
        __m512 x = acc[j];
        if (e.accumulate) {
            for (int64_t r = 0; r < rows; ++r) t[r] = c[r * ldc + j];
            x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(live, t));
        }
        if (e.last) {
            if (e.bias) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(live, e.bias));
            if (e.act != Activation::None) x = _mm512_mask_max_ps(x, 0xFFFF, x, zero);
            if (e.act == Activation::Relu6) x = _mm512_mask_min_ps(x, 0xFFFF, x, six);
        }
        _mm512_store_ps(t, x);
        for (int64_t r = 0; r < rows; ++r) c[r * ldc + j] = t[r];
    }
}

// column_tail over `cols` columns, at most 4 at a time.
__attribute__((target("avx512f"))) void column_tails(int64_t cols, int64_t kc, const float* ap,
                                                     int64_t pr, const float* bp, int64_t ldb,
                                                     float* c, int64_t ldc, int64_t rows,
                                                     const Epilogue& e) {
    for (int64_t j = 0; j < cols; j += 4) {
        const int64_t n = std::min<int64_t>(4, cols - j);
        if (n == 4)
            column_tail<4>(kc, ap, pr, bp + j, ldb, c + j, ldc, rows, e);
        else if (n == 3)
            column_tail<3>(kc, ap, pr, bp + j, ldb, c + j, ldc, rows, e);
        else if (n == 2)
            column_tail<2>(kc, ap, pr, bp + j, ldb, c + j, ldc, rows, e);
        else
            column_tail<1>(kc, ap, pr, bp + j, ldb, c + j, ldc, rows, e);
    }
}

// Panel p of A over values [k0, k0 + kc) of K against the tile of `cols` (<= 32) columns at j,
// B's rows ldb apart from bp: two vectors of columns, one, one and the column tails, or the
// tails alone.
__attribute__((target("avx512f"), always_inline)) inline void run_panel(
    const PackedWeights& a, int64_t p, int64_t k0, int64_t kc, const float* bp, int64_t ldb,
    float* c, int64_t ldc, int64_t j, int64_t cols, const float* bias, Activation act,
    bool first_read) {
    const int64_t pr = a.panel_rows(p), row0 = p * kMr;
    const Epilogue e{k0 > 0, k0 + kc == a.k(), bias ? bias + row0 : nullptr, act};
    const float* ap = a.panel(p) + k0 * pr;
    float* ct = c + row0 * ldc + j;
    const int64_t rows = std::min(kMr, a.m() - row0);
    if (cols <= kAvx512GemmTailColumns) {
        column_tails(cols, kc, ap, pr, bp, ldb, ct, ldc, rows, e);
    } else if (cols <= 16) {
        tile<1>(first_read, pr, kc, ap, bp, ldb, ct, ldc, rows, lanes(cols), 0, e);
    } else if (cols - 16 <= kAvx512GemmTailColumns) {
        tile<1>(first_read, pr, kc, ap, bp, ldb, ct, ldc, rows, 0xFFFF, 0, e);
        column_tails(cols - 16, kc, ap, pr, bp + 16, ldb, ct + 16, ldc, rows, e);
    } else {
        tile<2>(first_read, pr, kc, ap, bp, ldb, ct, ldc, rows, 0xFFFF, lanes(cols - 16), e);
    }
}

}  // namespace

// The rectangle of C made of A panels [p0, p1) and columns [n0, n1), on one thread.
__attribute__((target("avx512f"))) void gemm_block(const PackedWeights& a, int64_t p0, int64_t p1,
                                                   int64_t n0, int64_t n1, const float* b,
                                                   int64_t ldb, const float* bias, Activation act,
                                                   float* c, int64_t ldc) {
    const int64_t K = a.k();
    if (K <= kPackedGemmShortK) {
        // A reduction of a few values (MobileNetV2's 16 -> 96 expansion at 112x112): the
        // time goes into writing C, so each panel's rows are written in one sweep, reading B
        // where it lies; visiting every panel per column tile spread the writes over all M rows
        // (0.39-0.89 ms over runs against 0.59 this way). With longer reductions this order
        // re-reads B per panel and was up to 2x slower (K = 32-160).
        for (int64_t p = p0; p < p1; ++p)
            for (int64_t j = n0; j < n1; j += kNr) {
                const int64_t cols = std::min(kNr, n1 - j);
                run_panel(a, p, 0, K, b + j, ldb, c, ldc, j, cols, bias, act, j == n0);
            }
        return;
    }
    if (n1 - n0 <= 2 * kNr) {
        // One or two tiles (7x7 and 14x14 maps' Winograd products, a thread's share of a
        // small map): C's rows are short whatever the order, so each tile's B is packed once
        // and stays in L1 while the panels of A stream past it (the blocks' order, B from L2,
        // made GoogLeNet's 3x3 layers 2-4 % slower).
        alignas(64) float bt[kKc * kNr];
        for (int64_t k0 = 0; k0 < K; k0 += kKc) {
            const int64_t kc = std::min(kKc, K - k0);
            for (int64_t j = n0; j < n1; j += kNr) {
                const int64_t cols = std::min(kNr, n1 - j);
                pack_b(kc, b + k0 * ldb + j, ldb, lanes(cols),
                       lanes(std::max<int64_t>(0, cols - 16)), bt);
                for (int64_t p = p0; p < p1; ++p)
                    run_panel(a, p, k0, kc, bt, kNr, c, ldc, j, cols, bias, act, j == n0);
            }
        }
        return;
    }
    // B's panels for one block of columns, one buffer per thread (256 KB: not on the stack).
    thread_local const std::shared_ptr<float> buffer = aligned_floats(kKc * kNr * kBlockTiles);
    float* const bp = buffer.get();
    for (int64_t jb = n0; jb < n1; jb += kBlockTiles * kNr) {
        const int64_t je = std::min(n1, jb + kBlockTiles * kNr);
        for (int64_t k0 = 0; k0 < K; k0 += kKc) {
            const int64_t kc = std::min(kKc, K - k0);
            for (int64_t j = jb; j < je; j += kNr) {
                const int64_t cols = std::min(kNr, je - j);
                pack_b(kc, b + k0 * ldb + j, ldb, lanes(cols),
                       lanes(std::max<int64_t>(0, cols - 16)), bp + (j - jb) * kKc);
            }
            for (int64_t p = p0; p < p1; ++p)
                for (int64_t j = jb; j < je; j += kNr)
                    run_panel(a, p, k0, kc, bp + (j - jb) * kKc, kNr, c, ldc, j,
                              std::min(kNr, je - j), bias, act, j == jb);
        }
    }
}

}  // namespace nse::avx512
#endif
