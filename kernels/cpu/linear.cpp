#include "kernels/cpu/linear.h"

#include "kernels/cpu/gemm.h"

namespace nse {

void linear_f32_cpu(ThreadPool& pool, int64_t m, int64_t in, int64_t out, const float* x,
                    const float* w, const float* b, Activation act, float* y) {
    if (m == 1)
        sgemv_n(pool, out, in, w, in, x, y);
    else
        sgemm_nt(pool, m, out, in, x, in, w, in, y, out);
    for (int64_t i = 0; i < m; ++i) {
        float* row = y + i * out;
        for (int64_t o = 0; o < out; ++o) row[o] = activate(act, row[o] + (b ? b[o] : 0.f));
    }
}

}  // namespace nse
