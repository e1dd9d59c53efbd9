#include "kernels/cpu/linear.h"

#include <cblas.h>

namespace nse {

void linear_f32_cpu(int64_t m, int64_t in, int64_t out, const float* x, const float* w,
                    const float* b, Activation act, float* y) {
    if (m == 1) {
        cblas_sgemv(CblasRowMajor, CblasNoTrans, out, in, 1.f, w, in, x, 1, 0.f, y, 1);
    } else {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, out, in, 1.f, x, in, w, in, 0.f, y,
                    out);
    }
    for (int64_t i = 0; i < m; ++i) {
        float* row = y + i * out;
        for (int64_t o = 0; o < out; ++o) row[o] = activate(act, row[o] + (b ? b[o] : 0.f));
    }
}

}  // namespace nse
