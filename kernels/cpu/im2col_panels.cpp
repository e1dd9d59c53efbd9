#include "kernels/cpu/im2col_panels.h"

#include <algorithm>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "base/error.h"
#include "base/thread_pool.h"
#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/packed_gemm.h"

namespace nse {

bool im2col_column_panels_available() { return cpu_path() == CpuPath::Avx512; }

#if defined(__x86_64__)
namespace {

constexpr int64_t kPanel = PackedWeights::kPanelRows;  // 12 columns a panel

// Column panel i of the group's im2col matrix.
__attribute__((target("avx512f"))) void gather_panel(const ConvShape& sh, const float* x, int64_t i,
                                                     float* bt) {
    const int64_t cg = sh.c / sh.groups, Q = sh.q(), n = sh.p() * Q;
    const int64_t K = cg * sh.r * sh.s, HW = sh.h * sh.w;
    const int64_t j0 = i * kPanel, cols = packed_column_cols(n, i);
    const int64_t w = packed_column_width(n, i);
    const __mmask16 store = lane_mask(w), inside = lane_mask(cols);
    // Each column's output pixel (oh, ow) and the input row and column of its tap (0, 0).
    alignas(64) int32_t ih0[16], iw0[16];
    for (int p = 0; p < 16; ++p) {
        const int64_t j = j0 + p;
        ih0[p] = int32_t(j / Q * sh.stride_h - sh.pad_h);
        iw0[p] = int32_t(j % Q * sh.stride_w - sh.pad_w);
    }
    const __m512i vh0 = _mm512_load_si512(ih0), vw0 = _mm512_load_si512(iw0);
    const __m512i H = _mm512_set1_epi32(int32_t(sh.h)), W = _mm512_set1_epi32(int32_t(sh.w));
    float* panel = bt + i * kPanel * K;
    const int64_t step = sh.r * sh.s * w;  // the next channel's row for the same tap
    for (int64_t r = 0; r < sh.r; ++r) {
        const __m512i ih = _mm512_add_epi32(vh0, _mm512_set1_epi32(int32_t(r * sh.dil_h)));
        // 0 <= ih < H as one unsigned compare.
        const __mmask16 row_ok = _mm512_mask_cmplt_epu32_mask(inside, ih, H);
        for (int64_t s = 0; s < sh.s; ++s) {
            const __m512i iw = _mm512_add_epi32(vw0, _mm512_set1_epi32(int32_t(s * sh.dil_w)));
            const __mmask16 ok = _mm512_mask_cmplt_epu32_mask(row_ok, iw, W);
            const __m512i idx = _mm512_maskz_add_epi32(ok, _mm512_mullo_epi32(ih, W), iw);
            float* out = panel + (r * sh.s + s) * w;
            for (int64_t c = 0; c < cg; ++c)
                _mm512_mask_storeu_ps(
                    out + c * step, store,
                    _mm512_mask_i32gather_ps(_mm512_setzero_ps(), ok, idx, x + c * HW, 4));
        }
    }
}

}  // namespace

void im2col_column_panels(ThreadPool& pool, const ConvShape& sh, const float* x, float* bt) {
    const int64_t n = sh.p() * sh.q(), K = sh.c / sh.groups * sh.r * sh.s;
    const int64_t panels = packed_column_panels(n);
    pool.parallel_for(panels, kFlopsPerElement * double(n) * double(K),
                      [&](int64_t i0, int64_t i1) {
                          for (int64_t i = i0; i < i1; ++i) gather_panel(sh, x, i, bt);
                      });
}
#else
void im2col_column_panels(ThreadPool&, const ConvShape&, const float*, float*) {
    NSE_ASSERT(false);
}
#endif

}  // namespace nse
