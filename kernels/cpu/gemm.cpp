#include "kernels/cpu/gemm.h"

#include <cblas.h>

#include <algorithm>

#include "base/thread_pool.h"

namespace nse {

namespace {
// Column blocks are multiples of 16 (the widest micro-kernel) so every block but the last
// runs full-width kernels; blocks below 64 columns are not worth a thread.
int64_t blocks_for(int64_t n, int64_t min_cols = 64) {
    return std::max<int64_t>(1, std::min<int64_t>(num_threads(), n / min_cols));
}
int64_t block_start(int64_t n, int64_t blocks, int64_t b) {
    return std::min(n, (n * b / blocks + 15) / 16 * 16);
}

// Splits [0, n) into `blocks` pieces starting at multiples of 16 and runs fn(i0, i1) on each,
// one per pool thread; a GEMM of under kMinParallelWork FLOPs runs as one block here.
template <typename Fn>
void for_blocks(int64_t n, int64_t blocks, double flops, const Fn& fn) {
    if (flops < kMinParallelWork) {
        fn(0, n);
        return;
    }
    parallel_for(blocks, [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b) {
            const int64_t i0 = block_start(n, blocks, b), i1 = block_start(n, blocks, b + 1);
            if (i1 > i0) fn(i0, i1);
        }
    });
}
}  // namespace

void sgemm_nn(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
              int64_t ldb, float* C, int64_t ldc) {
    const double flops = 2.0 * M * N * K;
    const int threads = num_threads();
    // Small feature maps (few columns) but enough output channels: split the rows. Measured
    // with OpenBLAS on this machine class, two threads splitting N < 1024 columns run 1.2-2.4x
    // slower than splitting the rows once each thread gets >= 96 of them (about equal at 64, worse
    // below).
    if (threads > 1 &&
        ((N < 64 * threads && M >= 32 * threads) || (N < 1024 && M >= 96 * threads))) {
        for_blocks(M, std::min<int64_t>(threads, M / 16), flops, [&](int64_t i0, int64_t i1) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, i1 - i0, N, K, 1.f, A + i0 * lda,
                        lda, B, ldb, 0.f, C + i0 * ldc, ldc);
        });
        return;
    }
    for_blocks(N, blocks_for(N), flops, [&](int64_t j0, int64_t j1) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, j1 - j0, K, 1.f, A, lda, B + j0,
                    ldb, 0.f, C + j0, ldc);
    });
}

void sgemm_nt(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* W,
              int64_t ldw, float* C, int64_t ldc) {
    for_blocks(N, blocks_for(N), 2.0 * M * N * K, [&](int64_t j0, int64_t j1) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, j1 - j0, K, 1.f, A, lda,
                    W + j0 * ldw, ldw, 0.f, C + j0, ldc);
    });
}

void sgemv_n(int64_t N, int64_t K, const float* W, int64_t ldw, const float* x, float* y) {
    for_blocks(N, blocks_for(N, 16), 2.0 * N * K, [&](int64_t i0, int64_t i1) {
        cblas_sgemv(CblasRowMajor, CblasNoTrans, i1 - i0, K, 1.f, W + i0 * ldw, ldw, x, 1, 0.f,
                    y + i0, 1);
    });
}

}  // namespace nse
