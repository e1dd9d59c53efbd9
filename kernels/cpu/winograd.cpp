#include "kernels/cpu/winograd.h"

#include <cblas.h>

#include <algorithm>

#include "base/error.h"
#include "base/thread_pool.h"
#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/epilogue.h"
#include "kernels/cpu/isa_clones.h"
#include "kernels/cpu/packed_gemm.h"
#include "kernels/cpu/winograd_rows.h"

namespace nse {

namespace {

// The tiles of a chunk are transformed, multiplied and transformed back before the next chunk,
// and the transformed weights (positions x K x C floats) are read once per chunk. Where those
// weights fit in a core's L2 cache, chunks are small (transformed input and products,
// positions x (C + K) x T floats, within 1 MB, so they stay in L2 between the phases); where they
// do not, chunks are large (16 MB) so the weights are read from memory fewer times. Measured on
// VGG16 at 1 thread: the 64-channel 224x224 layer 24.3 ms with large chunks, 17.9 with small;
// the 256-channel 56x56 ones 14.1 with small, 10.3 with large.
constexpr int64_t kSmallChunkFloats = int64_t(1) << 18;
constexpr int64_t kLargeChunkFloats = int64_t(1) << 22;
constexpr int64_t kCachedWeightFloats = int64_t(400) << 10;

// F(2x2, 3x3) takes the maps too small for 25 tiles of 4x4 (14x14: 49 tiles of 2x2), where its
// 2.25x fewer multiply-adds than im2col pay for the transforms only with many channels.
constexpr int64_t kSmallMapMinChannels = 128;
constexpr int64_t kSmallMapMinTiles = 36;
// AVX2 and NEON: 16 tiles too (7x7 maps: ResNet's last stage), whose products fill one AVX2
// micro-tile (16 columns) or two NEON ones exactly; on AVX-512 they are half a 32-wide tile.
constexpr int64_t kSmallMapMinTilesNarrow = 16;
int64_t small_map_min_tiles() {
    const CpuPath path = cpu_path();
    return path == CpuPath::Avx2 || path == CpuPath::Neon ? kSmallMapMinTilesNarrow
                                                          : kSmallMapMinTiles;
}
// F(4x4)'s products run on the own packed GEMM from this many channels in and out (OpenBLAS's
// small-matrix kernel below); on AVX2 from 64 (its 16-wide tiles fill a chunk's 70 tiles to 88 %,
// AVX-512's 32-wide ones to 73 %): ResNet-18's 64-channel layers 0.86-0.91 of their time against
// OpenBLAS's Haswell kernel, VGG16's 0.90-0.95, GoogLeNet whole 0.96 (kernel revision 23).
int64_t packed_products_min_channels() { return cpu_path() == CpuPath::Avx2 ? 64 : 128; }

// Sixteen floats in one vector (GCC's vector extension: one AVX-512 register in the
// x86-64-v4 clones, two or four narrower ones in the others), loaded and stored unaligned.
typedef float Floats16 __attribute__((vector_size(64), aligned(4), may_alias));
inline const Floats16* as16(const float* p) { return reinterpret_cast<const Floats16*>(p); }
inline Floats16* as16(float* p) { return reinterpret_cast<Floats16*>(p); }

// F(M x M, 3x3): output tiles of M x M from input tiles of A x A, A = M + 2. The transforms of
// one column (stride `is`) into another (stride `os`).
template <int M>
struct Tile;

// F(4x4, 3x3), interpolation points 0, +-1, +-2 (and inf).
template <>
struct Tile<4> {
    static constexpr int A = 6;
    // B^T d -> 6 values (of floats, or of vectors of them).
    template <class V>
    static inline void input(const V* d, int64_t is, V* o, int64_t os) {
        const V d0 = d[0], d1 = d[is], d2 = d[2 * is], d3 = d[3 * is], d4 = d[4 * is],
                d5 = d[5 * is];
        o[0] = 4.f * d0 - 5.f * d2 + d4;
        o[os] = -4.f * (d1 + d2) + d3 + d4;
        o[2 * os] = 4.f * (d1 - d2) - d3 + d4;
        o[3 * os] = 2.f * (d3 - d1) - d2 + d4;
        o[4 * os] = 2.f * (d1 - d3) - d2 + d4;
        o[5 * os] = 4.f * d1 - 5.f * d3 + d5;
    }
    // A^T m -> 4 values.
    template <class V>
    static inline void output(const V* m, int64_t is, V* o, int64_t os) {
        const V m0 = m[0], m1 = m[is], m2 = m[2 * is], m3 = m[3 * is], m4 = m[4 * is],
                m5 = m[5 * is];
        const V a = m1 + m2, b = m1 - m2, c = m3 + m4, d = m3 - m4;
        o[0] = m0 + a + c;
        o[os] = b + 2.f * d;
        o[2 * os] = a + 4.f * c;
        o[3 * os] = b + 8.f * d + m5;
    }
    // G g -> 6 values (in double; the filter is transformed once, at load).
    static void filter(const double* g, int64_t is, double* o, int64_t os) {
        const double g0 = g[0], g1 = g[is], g2 = g[2 * is];
        o[0] = g0 / 4;
        o[os] = -(g0 + g1 + g2) / 6;
        o[2 * os] = -(g0 - g1 + g2) / 6;
        o[3 * os] = g0 / 24 + g1 / 12 + g2 / 6;
        o[4 * os] = g0 / 24 - g1 / 12 + g2 / 6;
        o[5 * os] = g2;
    }
};

// F(2x2, 3x3), interpolation points 0, +-1 (and inf): exact in the transforms (no scaling).
template <>
struct Tile<2> {
    static constexpr int A = 4;
    template <class V>
    static inline void input(const V* d, int64_t is, V* o, int64_t os) {
        const V d0 = d[0], d1 = d[is], d2 = d[2 * is], d3 = d[3 * is];
        o[0] = d0 - d2;
        o[os] = d1 + d2;
        o[2 * os] = d2 - d1;
        o[3 * os] = d1 - d3;
    }
    template <class V>
    static inline void output(const V* m, int64_t is, V* o, int64_t os) {
        const V m1 = m[is], m2 = m[2 * is];
        o[0] = m[0] + m1 + m2;
        o[os] = m1 - m2 - m[3 * is];
    }
    static void filter(const double* g, int64_t is, double* o, int64_t os) {
        const double g0 = g[0], g1 = g[is], g2 = g[2 * is];
        o[0] = g0;
        o[os] = (g0 + g1 + g2) / 2;
        o[2 * os] = (g0 - g1 + g2) / 2;
        o[3 * os] = g2;
    }
};

template <int M>
struct Winograd {
    static constexpr int A = Tile<M>::A;
    static constexpr int kPositions = A * A;

    // The products run on the own packed GEMM: F(2x2)'s (few tiles: 49 columns at 14x14, which
    // its column layout fills to 94 %), and F(4x4)'s from 128 channels in and out, 64 on AVX2
    // (packed_products_min_channels; VGG16's 512-channel 28x28 layers 14.3 -> 8.3 ms at 1 thread
    // on AVX-512, 256-channel 56x56 9.2 -> 8.6); with fewer, OpenBLAS's small-matrix kernel (on
    // AVX-512 10-22 % faster on 64-channel products, whose chunks of 70 tiles fill 73 % of the
    // packed GEMM's 32-wide tiles).
    static bool uses_packed_gemm(const ConvShape& sh) {
        return packed_gemm_available() &&
               (M == 2 || std::min(sh.c, sh.k) >= packed_products_min_channels());
    }

    static int64_t tiles_h(const ConvShape& sh) { return (sh.p() + M - 1) / M; }
    static int64_t tiles_w(const ConvShape& sh) { return (sh.q() + M - 1) / M; }
    // Width of a tile row's padded input strip and of its half-transformed rows.
    static int64_t strip_width(const ConvShape& sh) { return tiles_w(sh) * M + 2; }
    // Each thread's scratch: two strips (input: a zero row and the strip; output: the strip and
    // rows below the map), then the slack the vector row transforms read past a strip's last row
    // (winograd_rows.h).
    static int64_t thread_scratch_floats(const ConvShape& sh) {
        return 2 * A * strip_width(sh) + kWinogradRowSlack;
    }

    // Chunks are whole rows of tiles (so that the transforms run along contiguous rows), at
    // least 64 tiles (the GEMMs' columns) and otherwise as many as keep the chunk within its
    // budget.
    static int64_t chunk_rows(const ConvShape& sh) {
        const int64_t tw = tiles_w(sh);
        const int64_t budget =
            kPositions * sh.k * sh.c <= kCachedWeightFloats ? kSmallChunkFloats : kLargeChunkFloats;
        const int64_t target = std::max<int64_t>(64, budget / (kPositions * (sh.c + sh.k)));
        return std::clamp<int64_t>((target + tw - 1) / tw, 1, tiles_h(sh));
    }
    static int64_t chunks(const ConvShape& sh) {
        const int64_t rows = chunk_rows(sh);
        return (tiles_h(sh) + rows - 1) / rows;
    }
    static size_t workspace_floats(const ConvShape& sh, int threads) {
        const int64_t T = chunk_rows(sh) * tiles_w(sh);
        return size_t(kPositions * (sh.c + sh.k) * T + threads * thread_scratch_floats(sh)) +
               size_t(threads) * packed_floats(sh);
    }
    // The own GEMM's layout for the products of a chunk, and the floats it packs B into.
    static PackedWeights::Layout layout(const ConvShape& sh) {
        return packed_layout_for(sh.k, chunk_rows(sh) * tiles_w(sh), sh.c);
    }
    static double products_fill(const ConvShape& sh) {
        if (!uses_packed_gemm(sh)) return 1.0;
        const int64_t rows = chunk_rows(sh), th = tiles_h(sh), tw = tiles_w(sh);
        int64_t real = 0, computed = 0;
        for (int64_t ty0 = 0; ty0 < th; ty0 += rows) {
            const int64_t T = std::min(rows, th - ty0) * tw;
            real += T;
            computed += packed_gemm_computed_columns(layout(sh), T);
        }
        return double(real) / double(computed);
    }
    static size_t packed_floats(const ConvShape& sh) {
        if (!uses_packed_gemm(sh)) return 0;
        return packed_gemm_workspace_floats(layout(sh), chunk_rows(sh) * tiles_w(sh), sh.c);
    }

    // The column transform of A input rows, vectorised along them: t[i][x] = (B^T d)[i][x] for
    // d[i] = r[i][x], x < count (rows outside the map point at zeros). Sixteen columns at a
    // time in explicit vectors: GCC left the plain loop scalar (a fifth of a 56x56 layer's time).
    // Inlined into input_channel's clones.
    __attribute__((always_inline)) static inline void input_columns(int64_t count,
                                                                    const float* const* r,
                                                                    float* __restrict t,
                                                                    int64_t n) {
        int64_t x = 0;
        for (; x + 16 <= count; x += 16) {
            Floats16 d[A], o[A];
            for (int i = 0; i < A; ++i) d[i] = *as16(r[i] + x);
            Tile<M>::input(d, 1, o, 1);
            for (int i = 0; i < A; ++i) *as16(t + i * n + x) = o[i];
        }
        for (; x < count; ++x) {
            float d[A];
            for (int i = 0; i < A; ++i) d[i] = r[i][x];
            Tile<M>::input(d, 1, t + x, n);
        }
    }

    // Tile rows [ty0, ty0 + rows) of one input channel's plane into v (v[(i * A + j) * vs +
    // r * tw + tx]): per tile row, the column transform of its A input rows into the strip t
    // (whose columns outside the map stay zero), then the row transform. One call per channel:
    // called per tile row, the function's entry (reloading the row pointers the caller had
    // just stored) took 40 % of the column transform's time.
    __attribute__((always_inline)) static inline void input_channel_body(
        const ConvShape& sh, const float* plane, int64_t ty0, int64_t rows, const float* zeros,
        float* t, float* v, int64_t vs) {
        const int64_t tw = tiles_w(sh), H = sh.h, W = sh.w, n = strip_width(sh);
        const int64_t x0 = -sh.pad_w;  // input column of strip column 0
        const int64_t lo = std::max<int64_t>(0, -x0), hi = std::min<int64_t>(n, W - x0);
        for (int64_t r = 0; r < rows; ++r) {
            const int64_t y0 = (ty0 + r) * M - sh.pad_h;
            const float* rows_at[A];
            for (int i = 0; i < A; ++i) {
                const int64_t y = y0 + i;
                rows_at[i] = y < 0 || y >= H ? zeros : plane + y * W + x0 + lo;
            }
            if (hi > lo) input_columns(hi - lo, rows_at, t + lo, n);
            input_rows(tw, n, t, v + r * tw, vs);
        }
    }
    NSE_ISA_CLONES(static void, input_channel,
                   (const ConvShape& sh, const float* plane, int64_t ty0, int64_t rows,
                    const float* zeros, float* t, float* v, int64_t vs),
                   (sh, plane, ty0, rows, zeros, t, v, vs))

    // The row transform of each tile in a half-transformed strip: v[(i * A + j) * vs + tx] =
    // (t B)[i][M tx + j], contiguous in tx.
    __attribute__((always_inline)) static inline void input_rows_body(int64_t tw, int64_t n,
                                                                      const float* __restrict t,
                                                                      float* __restrict v,
                                                                      int64_t vs) {
        if constexpr (M == 4)
            if (winograd_input_rows_simd(tw, n, t, v, vs)) return;
        for (int i = 0; i < A; ++i)
            for (int64_t tx = 0; tx < tw; ++tx)
                Tile<M>::input(t + i * n + tx * M, 1, v + i * A * vs + tx, vs);
    }
    NSE_ISA_CLONES(static void, input_rows,
                   (int64_t tw, int64_t n, const float* t, float* v, int64_t vs), (tw, n, t, v, vs))

    // The row transform of the products of one output channel: t[i][M tx + j] = (m A)[i][j]
    // for m[i * A + s] = the products at position (i, s), contiguous in tx.
    __attribute__((always_inline)) static inline void output_rows_body(
        int64_t tw, const float* __restrict m, int64_t ms, float* __restrict t, int64_t n) {
        if constexpr (M == 4)
            if (winograd_output_rows_simd(tw, m, ms, t, n)) return;
        for (int i = 0; i < A; ++i)
            for (int64_t tx = 0; tx < tw; ++tx)
                Tile<M>::output(m + i * A * ms + tx, ms, t + i * n + tx * M, 1);
    }
    NSE_ISA_CLONES(static void, output_rows,
                   (int64_t tw, const float* m, int64_t ms, float* t, int64_t n), (tw, m, ms, t, n))

    // The column transform back to output rows, vectorised along them, then bias and activation:
    // y[j][x] = act((A^T t)[j][x] + bias) for x < q, j < M (rows below the map point at a
    // scratch row). Inlined into output_channel's clones. (Bias and activation fused into the
    // vector loop made VGG16's 224x224 layers 13 % slower; activate() per value in the scalar
    // tail branched on every value.)
    __attribute__((always_inline)) static inline void output_columns(int64_t n,
                                                                     const float* __restrict t,
                                                                     int64_t q, float* const* out,
                                                                     float bias, Activation act) {
        int64_t x = 0;
        for (; x + 16 <= q; x += 16) {
            Floats16 m[A], o[M];
            for (int i = 0; i < A; ++i) m[i] = *as16(t + i * n + x);
            Tile<M>::output(m, 1, o, 1);
            for (int j = 0; j < M; ++j) *as16(out[j] + x) = o[j];
        }
        for (int64_t i = x; i < q; ++i) {
            float m[A], o[M];
            for (int a = 0; a < A; ++a) m[a] = t[a * n + i];
            Tile<M>::output(m, 1, o, 1);
            for (int j = 0; j < M; ++j) out[j][i] = o[j];
        }
        for (int j = 0; j < M; ++j) bias_activation_row(q, bias, act, out[j]);
    }

    // Output rows of tile rows [ty0, ty0 + rows) of one output channel's plane from its
    // products m (m[(i * A + s) * ms + r * tw + tx]): the row transform into the strip t, then
    // the column transform and the epilogue (one call per channel, as input_channel).
    __attribute__((always_inline)) static inline void output_channel_body(
        const ConvShape& sh, const float* m, int64_t ms, float bias, Activation act, int64_t ty0,
        int64_t rows, float* t, float* spare, float* plane) {
        const int64_t tw = tiles_w(sh), P = sh.p(), Q = sh.q(), n = strip_width(sh);
        for (int64_t r = 0; r < rows; ++r) {
            const int64_t p0 = (ty0 + r) * M, inside = std::min<int64_t>(M, P - p0);
            float* out[M];
            for (int j = 0; j < M; ++j) out[j] = j < inside ? plane + (p0 + j) * Q : spare;
            output_rows(tw, m + r * tw, ms, t, n);
            output_columns(n, t, Q, out, bias, act);
        }
    }
    NSE_ISA_CLONES(static void, output_channel,
                   (const ConvShape& sh, const float* m, int64_t ms, float bias, Activation act,
                    int64_t ty0, int64_t rows, float* t, float* spare, float* plane),
                   (sh, m, ms, bias, act, ty0, rows, t, spare, plane))

    // Which of the ranges ThreadPool::parallel_for(n, ...) makes starts at `begin` (0 when it
    // runs inline): each range gets its own scratch buffers.
    static int64_t range_index(const ThreadPool& pool, int64_t begin, int64_t n) {
        const int64_t parts = std::min<int64_t>(n, pool.size());
        return (begin * parts + n - 1) / n;
    }

    // v[positions][C][T]: the transformed input tiles of tile rows [ty0, ty0 + rows) of every
    // channel.
    static void transform_input(ThreadPool& pool, const ConvShape& sh, const float* x, int64_t ty0,
                                int64_t rows, int64_t T, float* v, float* scratch) {
        const int64_t n = strip_width(sh), CT = sh.c * T;
        pool.parallel_for(
            sh.c, kFlopsPerElement * sh.c * T * kPositions, [&](int64_t c0, int64_t c1) {
                // Per range: a zero row (for rows outside the map) and the A x n half-transformed
                // strip, whose columns outside the map stay zero (B^T of zeros).
                float* zeros = scratch + range_index(pool, c0, sh.c) * thread_scratch_floats(sh);
                float* t = zeros + A * n;
                std::fill_n(zeros, 2 * A * n, 0.f);
                for (int64_t c = c0; c < c1; ++c)
                    input_channel(sh, x + c * sh.h * sh.w, ty0, rows, zeros, t, v + c * T, CT);
            });
    }

    // y rows of tile rows [ty0, ty0 + rows) from m[positions][K][T], with bias and activation.
    static void transform_output(ThreadPool& pool, const ConvShape& sh, const float* m,
                                 const float* b, Activation act, int64_t ty0, int64_t rows,
                                 int64_t T, float* y, float* scratch) {
        const int64_t n = strip_width(sh), KT = sh.k * T;
        pool.parallel_for(
            sh.k, kFlopsPerElement * sh.k * T * kPositions, [&](int64_t k0, int64_t k1) {
                float* t = scratch + range_index(pool, k0, sh.k) * thread_scratch_floats(sh);
                float* spare = t + A * n;  // the rows of the last tile row below the map
                for (int64_t k = k0; k < k1; ++k)
                    output_channel(sh, m + k * T, KT, b ? b[k] : 0.f, act, ty0, rows, t, spare,
                                   y + k * sh.p() * sh.q());
            });
    }

    // u[positions][K][C] = G w G^T for each (k, c), in double, rounded once.
    static void transform_weights(int64_t K, int64_t C, const float* w, float* u) {
        const int64_t KC = K * C;
        for (int64_t k = 0; k < K; ++k)
            for (int64_t c = 0; c < C; ++c) {
                double g[9], tmp[A * 3], out[A * A];
                for (int i = 0; i < 9; ++i) g[i] = w[(k * C + c) * 9 + i];
                for (int s = 0; s < 3; ++s) Tile<M>::filter(g + s, 3, tmp + s, 3);  // G g
                for (int r = 0; r < A; ++r) Tile<M>::filter(tmp + r * 3, 1, out + r * A, 1);
                for (int i = 0; i < kPositions; ++i) u[i * KC + k * C + c] = float(out[i]);
            }
    }

    static void run(ThreadPool& pool, const ConvShape& sh, const float* x, const float* u,
                    const std::vector<PackedWeights>& packed, const float* b, Activation act,
                    float* y, float* workspace) {
        const int64_t C = sh.c, K = sh.k, th = tiles_h(sh), tw = tiles_w(sh);
        const int64_t chunk = chunk_rows(sh);
        float* scratch = workspace + kPositions * (C + K) * chunk * tw;
        float* packed_b = scratch + pool.size() * thread_scratch_floats(sh);
        for (int64_t n = 0; n < sh.n; ++n) {
            const float* xn = x + n * C * sh.h * sh.w;
            float* yn = y + n * K * sh.p() * sh.q();
            for (int64_t ty0 = 0; ty0 < th; ty0 += chunk) {
                const int64_t rows = std::min(chunk, th - ty0), T = rows * tw;
                float* v = workspace;               // [positions][C][T]
                float* m = v + kPositions * C * T;  // [positions][K][T]
                transform_input(pool, sh, xn, ty0, rows, T, v, scratch);
                if (!packed.empty()) {
                    // Positions split over the pool, each product on one thread (the pool is
                    // busy, so packed_gemm runs inline) with B packed into that range's buffer:
                    // one parallel section instead of two per position.
                    pool.parallel_for(
                        kPositions, 2.0 * kPositions * K * C * T, [&](int64_t i0, int64_t i1) {
                            float* bt =
                                packed_b + range_index(pool, i0, kPositions) * packed_floats(sh);
                            for (int64_t i = i0; i < i1; ++i)
                                packed_gemm(pool, packed[i], T, v + i * C * T, T, nullptr,
                                            Activation::None, m + i * K * T, T, bt);
                        });
                } else {
                    pool.parallel_for(kPositions, 2.0 * kPositions * K * C * T,
                                      [&](int64_t i0, int64_t i1) {
                                          for (int64_t i = i0; i < i1; ++i)
                                              cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans,
                                                          K, T, C, 1.f, u + i * K * C, C,
                                                          v + i * C * T, T, 0.f, m + i * K * T, T);
                                      });
                }
                transform_output(pool, sh, m, b, act, ty0, rows, T, yn, scratch);
            }
        }
    }
};

}  // namespace

int winograd_tile(const ConvShape& sh) {
    if (!(sh.r == 3 && sh.s == 3 && sh.stride_h == 1 && sh.stride_w == 1 && sh.dil_h == 1 &&
          sh.dil_w == 1 && sh.groups == 1 && sh.c >= 16 && sh.k >= 16))
        return 0;
    if (Winograd<4>::tiles_h(sh) * Winograd<4>::tiles_w(sh) >= 25) return 4;
    if (sh.c >= kSmallMapMinChannels && sh.k >= kSmallMapMinChannels &&
        Winograd<2>::tiles_h(sh) * Winograd<2>::tiles_w(sh) >= small_map_min_tiles())
        return 2;
    return 0;
}

bool winograd_applies(const ConvShape& sh) { return winograd_tile(sh) != 0; }

int64_t winograd_positions(int tile) { return (tile + 2) * (tile + 2); }

size_t winograd_weight_floats(int tile, int64_t k, int64_t c) {
    return size_t(winograd_positions(tile) * k * c);
}

void winograd_transform_weights(int tile, int64_t K, int64_t C, const float* w, float* u) {
    NSE_ASSERT(tile == 4 || tile == 2);
    if (tile == 4)
        Winograd<4>::transform_weights(K, C, w, u);
    else
        Winograd<2>::transform_weights(K, C, w, u);
}

int64_t winograd_tiles(const ConvShape& sh) {
    return winograd_tile(sh) == 4 ? Winograd<4>::tiles_h(sh) * Winograd<4>::tiles_w(sh)
                                  : Winograd<2>::tiles_h(sh) * Winograd<2>::tiles_w(sh);
}

double winograd_products_fill(const ConvShape& sh) {
    return winograd_tile(sh) == 4 ? Winograd<4>::products_fill(sh) : Winograd<2>::products_fill(sh);
}

int64_t winograd_chunks(const ConvShape& sh) {
    return winograd_tile(sh) == 4 ? Winograd<4>::chunks(sh) : Winograd<2>::chunks(sh);
}

size_t winograd_workspace_floats(const ConvShape& sh, int threads) {
    return winograd_tile(sh) == 4 ? Winograd<4>::workspace_floats(sh, threads)
                                  : Winograd<2>::workspace_floats(sh, threads);
}

template <int M>
std::vector<PackedWeights> pack_products(const ConvShape& sh, const float* u) {
    std::vector<PackedWeights> out;
    if (!Winograd<M>::uses_packed_gemm(sh)) return out;
    const auto layout = Winograd<M>::layout(sh);
    for (int64_t i = 0; i < Winograd<M>::kPositions; ++i)
        out.emplace_back(sh.k, sh.c, u + i * sh.k * sh.c, sh.c, layout);
    return out;
}

std::vector<PackedWeights> winograd_pack_weights(const ConvShape& sh, const float* u) {
    const int tile = winograd_tile(sh);
    if (tile == 4) return pack_products<4>(sh, u);
    if (tile == 2) return pack_products<2>(sh, u);
    return {};
}

void winograd_conv2d_f32_cpu(ThreadPool& pool, const ConvShape& sh, const float* x, const float* u,
                             const std::vector<PackedWeights>& packed, const float* b,
                             Activation act, float* y, float* workspace) {
    const int tile = winograd_tile(sh);
    NSE_ASSERT(tile == 4 || tile == 2);
    NSE_ASSERT(packed.empty() || int64_t(packed.size()) == winograd_positions(tile));
    if (tile == 4)
        Winograd<4>::run(pool, sh, x, u, packed, b, act, y, workspace);
    else
        Winograd<2>::run(pool, sh, x, u, packed, b, act, y, workspace);
}

}  // namespace nse
