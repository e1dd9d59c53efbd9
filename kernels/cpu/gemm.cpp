#include "kernels/cpu/gemm.h"

#include <cblas.h>

#include <algorithm>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "base/thread_pool.h"
#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/simd/simd_kernels.h"

namespace nse {

namespace {
// Column blocks are multiples of 16 (the widest micro-kernel) so every block but the last
// runs full-width kernels; blocks below 64 columns are not worth a thread.
int64_t blocks_for(const ThreadPool& pool, int64_t n, int64_t min_cols = 64) {
    return std::max<int64_t>(1, std::min<int64_t>(pool.size(), n / min_cols));
}
int64_t block_start(int64_t n, int64_t blocks, int64_t b) {
    return std::min(n, (n * b / blocks + 15) / 16 * 16);
}

// Splits [0, n) into `blocks` pieces starting at multiples of 16 and runs fn(i0, i1) on each,
// one per pool thread; a GEMM of under kMinParallelWork FLOPs runs as one block here.
template <typename Fn>
void for_blocks(ThreadPool& pool, int64_t n, int64_t blocks, double flops, const Fn& fn) {
    if (flops < kMinParallelWork) {
        fn(0, n);
        return;
    }
    pool.parallel_for(blocks, [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b) {
            const int64_t i0 = block_start(n, blocks, b), i1 = block_start(n, blocks, b + 1);
            if (i1 > i0) fn(i0, i1);
        }
    });
}
#if defined(__x86_64__)
// y[r] = W[r, :] . x for ROWS rows at once: each row's stream of weights is read once, 16 floats
// per multiply-add, with a prefetch 1 KB ahead into L2 so that more lines are in flight than the
// L1 fill buffers allow. Fully connected layers at batch 1 are bound by this read: measured on a
// 151 MB layer, 15.5 GB/s on one core against OpenBLAS sgemv's 13.2.
template <int ROWS>
__attribute__((target("avx512f"))) void gemv_rows(int64_t K, const float* W, int64_t ldw,
                                                  const float* x, float* y) {
    constexpr int64_t kAhead = 256;  // floats
    const float* w[ROWS];
    __m512 acc[ROWS];
    for (int r = 0; r < ROWS; ++r) {
        w[r] = W + r * ldw;
        acc[r] = _mm512_setzero_ps();
    }
    int64_t k = 0;
    for (; k + 16 <= K; k += 16) {
        const __m512 xv = _mm512_loadu_ps(x + k);
#pragma GCC unroll 8
        for (int r = 0; r < ROWS; ++r) {
            _mm_prefetch(reinterpret_cast<const char*>(w[r] + k + kAhead), _MM_HINT_T1);
            acc[r] = _mm512_fmadd_ps(_mm512_loadu_ps(w[r] + k), xv, acc[r]);
        }
    }
    const __mmask16 tail = __mmask16((1u << (K - k)) - 1);
    const __m512 xv = _mm512_maskz_loadu_ps(tail, x + k);
    for (int r = 0; r < ROWS; ++r) {
        acc[r] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, w[r] + k), xv, acc[r]);
        // (not _mm512_reduce_add_ps: GCC 12 warns about its own header there)
        alignas(64) float lanes[16];
        _mm512_store_ps(lanes, acc[r]);
        float sum = 0.f;
        for (float v : lanes) sum += v;
        y[r] = sum;
    }
}

// Y[c, r] = W[r, :] . X[c, :] for ROWS rows of W and COLS rows of X: every product accumulated
// exactly as gemv_rows accumulates it (same lanes, same order, same tail and final sum), so the
// result is bit-identical to COLS separate gemv calls while each weight is loaded once.
template <int ROWS, int COLS>
__attribute__((target("avx512f"))) void gemv_tile(int64_t K, const float* W, int64_t ldw,
                                                  const float* X, float* Y, int64_t ldy) {
    constexpr int64_t kAhead = 256;  // floats
    __m512 acc[ROWS][COLS];
    for (int r = 0; r < ROWS; ++r)
        for (int c = 0; c < COLS; ++c) acc[r][c] = _mm512_setzero_ps();
    int64_t k = 0;
    for (; k + 16 <= K; k += 16) {
        __m512 xv[COLS];
        for (int c = 0; c < COLS; ++c) xv[c] = _mm512_loadu_ps(X + c * K + k);
#pragma GCC unroll 4
        for (int r = 0; r < ROWS; ++r) {
            _mm_prefetch(reinterpret_cast<const char*>(W + r * ldw + k + kAhead), _MM_HINT_T1);
            const __m512 wv = _mm512_loadu_ps(W + r * ldw + k);
            for (int c = 0; c < COLS; ++c) acc[r][c] = _mm512_fmadd_ps(wv, xv[c], acc[r][c]);
        }
    }
    const __mmask16 tail = __mmask16((1u << (K - k)) - 1);
    for (int r = 0; r < ROWS; ++r) {
        const __m512 wv = _mm512_maskz_loadu_ps(tail, W + r * ldw + k);
        for (int c = 0; c < COLS; ++c) {
            const __m512 a =
                _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(tail, X + c * K + k), acc[r][c]);
            alignas(64) float lanes[16];
            _mm512_store_ps(lanes, a);
            float sum = 0.f;
            for (float v : lanes) sum += v;
            Y[c * ldy + r] = sum;
        }
    }
}

// Rows [0, N) of W against the M rows of X: four rows of W at a time against up to four rows
// of X (the four weight rows stay in L1/L2 while further rows of X pass over them).
template <int ROWS>
__attribute__((target("avx512f"))) void gemv_tile_cols(int64_t M, int64_t K, const float* W,
                                                       int64_t ldw, const float* X, float* Y,
                                                       int64_t ldy) {
    int64_t c = 0;
    for (; c + 4 <= M; c += 4) gemv_tile<ROWS, 4>(K, W, ldw, X + c * K, Y + c * ldy, ldy);
    switch (M - c) {
        case 3:
            gemv_tile<ROWS, 3>(K, W, ldw, X + c * K, Y + c * ldy, ldy);
            break;
        case 2:
            gemv_tile<ROWS, 2>(K, W, ldw, X + c * K, Y + c * ldy, ldy);
            break;
        case 1:
            gemv_tile<ROWS, 1>(K, W, ldw, X + c * K, Y + c * ldy, ldy);
            break;
        default:
            break;
    }
}

__attribute__((target("avx512f"))) void gemv_multi_avx512(int64_t M, int64_t N, int64_t K,
                                                          const float* W, const float* X, float* Y,
                                                          int64_t ldy) {
    int64_t i = 0;
    for (; i + 4 <= N; i += 4) gemv_tile_cols<4>(M, K, W + i * K, K, X, Y + i, ldy);
    for (; i < N; ++i) gemv_tile_cols<1>(M, K, W + i * K, K, X, Y + i, ldy);
}

__attribute__((target("avx512f"))) void gemv_avx512(int64_t N, int64_t K, const float* W,
                                                    int64_t ldw, const float* x, float* y) {
    int64_t i = 0;
    for (; i + 8 <= N; i += 8) gemv_rows<8>(K, W + i * ldw, ldw, x, y + i);
    for (; i < N; ++i) gemv_rows<1>(K, W + i * ldw, ldw, x, y + i);
}

#endif

// y[N] = W[N, K] x[K] on this thread: the kernel above on the AVX-512 path, the shared SIMD one
// (simd/gemm_body.h) on AVX2 and NEON, OpenBLAS on the generic path.
void gemv_block(int64_t N, int64_t K, const float* W, int64_t ldw, const float* x, float* y) {
    switch (cpu_path()) {
#if defined(__x86_64__)
        case CpuPath::Avx512:
            return gemv_avx512(N, K, W, ldw, x, y);
        case CpuPath::Avx2:
            return avx2::gemv(N, K, W, ldw, x, y);
#endif
#if defined(__aarch64__)
        case CpuPath::Neon:
            return neon::gemv(N, K, W, ldw, x, y);
#endif
        default:
            break;
    }
    cblas_sgemv(CblasRowMajor, CblasNoTrans, N, K, 1.f, W, ldw, x, 1, 0.f, y, 1);
}

}  // namespace

void sgemm_nn(ThreadPool& pool, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
              const float* B, int64_t ldb, float* C, int64_t ldc) {
    const double flops = 2.0 * M * N * K;
    const int threads = pool.size();
    // Small feature maps (few columns) but enough output channels: split the rows. Measured
    // with OpenBLAS on this machine class, two threads splitting N < 1024 columns run 1.2-2.4x
    // slower than splitting the rows once each thread gets >= 96 of them (about equal at 64, worse
    // below).
    if (threads > 1 &&
        ((N < 64 * threads && M >= 32 * threads) || (N < 1024 && M >= 96 * threads))) {
        for_blocks(pool, M, std::min<int64_t>(threads, M / 16), flops, [&](int64_t i0, int64_t i1) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, i1 - i0, N, K, 1.f, A + i0 * lda,
                        lda, B, ldb, 0.f, C + i0 * ldc, ldc);
        });
        return;
    }
    for_blocks(pool, N, blocks_for(pool, N), flops, [&](int64_t j0, int64_t j1) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, j1 - j0, K, 1.f, A, lda, B + j0,
                    ldb, 0.f, C + j0, ldc);
    });
}

void sgemv_rows(ThreadPool& pool, int64_t M, int64_t N, int64_t K, const float* X, const float* W,
                float* Y) {
    for_blocks(pool, N, blocks_for(pool, N, 16), gemv_work(M, N, K), [&](int64_t i0, int64_t i1) {
        switch (cpu_path()) {
#if defined(__x86_64__)
            case CpuPath::Avx512:
                return gemv_multi_avx512(M, i1 - i0, K, W + i0 * K, X, Y + i0, N);
            case CpuPath::Avx2:
                return avx2::gemv_multi(M, i1 - i0, K, W + i0 * K, X, Y + i0, N);
#endif
#if defined(__aarch64__)
            case CpuPath::Neon:
                return neon::gemv_multi(M, i1 - i0, K, W + i0 * K, X, Y + i0, N);
#endif
            default:
                break;
        }
        // One sgemv per row, as gemv_block computes a single one.
        for (int64_t m = 0; m < M; ++m)
            cblas_sgemv(CblasRowMajor, CblasNoTrans, i1 - i0, K, 1.f, W + i0 * K, K, X + m * K, 1,
                        0.f, Y + m * N + i0, 1);
    });
}

double gemv_work(int64_t M, int64_t N, int64_t K) {
    return std::max(2.0 * double(M) * double(N) * double(K),
                    kFlopsPerElement * double(N) * double(K));
}

void sgemv_n(ThreadPool& pool, int64_t N, int64_t K, const float* W, int64_t ldw, const float* x,
             float* y) {
    for_blocks(pool, N, blocks_for(pool, N, 16), gemv_work(1, N, K), [&](int64_t i0, int64_t i1) {
        gemv_block(i1 - i0, K, W + i0 * ldw, ldw, x, y + i0);
    });
}

}  // namespace nse
