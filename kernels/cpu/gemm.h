// Row-major sgemm/sgemv split across the given thread pool, each piece one single-threaded
// OpenBLAS call. OpenBLAS itself is kept at one thread: its workers spin after each call and
// would fight our pool for the cores (measured: a pooling layer after a GEMM ran 2x slower).
#pragma once

#include <cstdint>

namespace nse {

class ThreadPool;

// C[M, N] = A[M, K] * B[K, N] (ldb, ldc row strides), split by column blocks of C.
void sgemm_nn(ThreadPool& pool, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
              const float* B, int64_t ldb, float* C, int64_t ldc);
// y[N] = W[N, K] x[K], split by rows of W; an own AVX-512 kernel streams the rows where the CPU
// has it (OpenBLAS sgemv otherwise).
void sgemv_n(ThreadPool& pool, int64_t N, int64_t K, const float* W, int64_t ldw, const float* x,
             float* y);
// Y[M, N] = X[M, K] W[N, K]^T as M products sgemv_n would compute, bit for bit (each output
// accumulated in the same order), so a batch's rows equal the images run alone; the AVX-512
// kernel reads each row of W once for up to four rows of X (OpenBLAS sgemv per row otherwise).
void sgemv_rows(ThreadPool& pool, int64_t M, int64_t N, int64_t K, const float* X, const float* W,
                float* Y);
// The work by which sgemv_n (M = 1) and sgemv_rows decide to split over the pool
// (kMinParallelWork): the FLOPs, or where more, W's values counted as a memory-bound loop's
// (kFlopsPerElement each): W is streamed once, so a 400 x 1000 classifier (1.6 MB, 0.8 MFLOP;
// RegNetX-400MF's) splits too (0.138 ms on one thread of a Zen 4 core, 0.132 on two inline, 0.079
// split).
double gemv_work(int64_t M, int64_t N, int64_t K);

}  // namespace nse
