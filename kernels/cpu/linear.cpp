#include "kernels/cpu/linear.h"

#include "kernels/cpu/gemm.h"

namespace nse {

void linear_f32_cpu(ThreadPool& pool, int64_t m, int64_t in, int64_t out, const float* x,
                    const float* w, const float* b, Activation act, float* y) {
    // A batch computes each row as batch 1 does, bit for bit (a request batched in the cloud
    // gets the answer it would get alone), reading the weights once per four rows.
    if (m == 1)
        sgemv_n(pool, out, in, w, in, x, y);
    else
        sgemv_rows(pool, m, out, in, x, w, y);
    for (int64_t i = 0; i < m; ++i) {
        float* row = y + i * out;
        for (int64_t o = 0; o < out; ++o) row[o] = activate(act, row[o] + (b ? b[o] : 0.f));
    }
}

}  // namespace nse
