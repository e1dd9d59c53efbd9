#include "kernels/cpu/pool.h"

#include <algorithm>
#include <array>
#include <limits>

#include "base/thread_pool.h"
#include "kernels/cpu/isa_clones.h"

namespace nse {

namespace {

// rm[x] = max(rm[x], row[x]) over a whole input row: contiguous, vectorised.
NSE_ALWAYS_INLINE void max_into_body(int64_t n, const float* __restrict row, float* __restrict rm) {
    for (int64_t x = 0; x < n; ++x) rm[x] = std::max(rm[x], row[x]);
}
NSE_ISA_CLONES(void, max_into, (int64_t n, const float* row, float* rm), (n, row, rm))

// out[q] = max(r[2q], r[2q + 1], r[2q + 2]): the window columns of a 3-wide, stride-2 pooling
// over a row that is -inf outside the input, vectorised (ResNet-18's and AlexNet's pooling).
NSE_ALWAYS_INLINE void max_cols_k3s2_body(int64_t n, const float* __restrict r,
                                          float* __restrict out) {
    for (int64_t q = 0; q < n; ++q)
        out[q] = std::max(std::max(r[2 * q], r[2 * q + 1]), r[2 * q + 2]);
}
NSE_ISA_CLONES(void, max_cols_k3s2, (int64_t n, const float* r, float* out), (n, r, out))

// out[q] = max(r[2q], r[2q + 1]): 2-wide, stride-2 windows (VGG16's and LeNet's pooling).
NSE_ALWAYS_INLINE void max_cols_k2s2_body(int64_t n, const float* __restrict r,
                                          float* __restrict out) {
    for (int64_t q = 0; q < n; ++q) out[q] = std::max(r[2 * q], r[2 * q + 1]);
}
NSE_ISA_CLONES(void, max_cols_k2s2, (int64_t n, const float* r, float* out), (n, r, out))

constexpr int64_t kRowBuffer = 4096;  // floats: input rows up to this wide take the fast path
constexpr int64_t kRowPad = 64;       // -inf floats on each side of the row buffer

}  // namespace

void max_pool2d_f32_cpu(ThreadPool& pool, const PoolShape& sh, const float* x, float* y) {
    pool.parallel_for(sh.n * sh.c, kFlopsPerElement * sh.n * sh.c * sh.p * sh.q * sh.kh * sh.kw,
                      [&](int64_t pl0, int64_t pl1) {
                          // Each output row first takes the maximum over its window's rows for
                          // every input column (contiguous, vectorised), then over the window's
                          // columns of that: kh + kw reads per output instead of kh * kw scattered
                          // ones (ResNet-18's 3x3 stride-2 pooling took 1.35 ms at 1 thread). rm:
                          // the row maxima, with -inf on both sides for the window's padding.
                          float buffer[kRowBuffer + 2 * kRowPad];
                          float* rm = buffer + kRowPad;
                          const int64_t span = (sh.kw - 1) * sh.dil_w;  // window columns beyond w0
                          const bool rows_first =
                              sh.w <= kRowBuffer && sh.pad_w <= kRowPad &&
                              (sh.q - 1) * sh.stride_w - sh.pad_w + span < sh.w + kRowPad;
                          std::fill(buffer, buffer + kRowBuffer + 2 * kRowPad,
                                    -std::numeric_limits<float>::infinity());
                          const bool k3s2 = sh.kw == 3 && sh.stride_w == 2 && sh.dil_w == 1;
                          const bool k2s2 = sh.kw == 2 && sh.stride_w == 2 && sh.dil_w == 1;
                          // Output column q's window starts at input column w0; its taps [s0, s1)
                          // fall inside the input.
                          auto window_columns = [&](int64_t q) {
                              const int64_t w0 = q * sh.stride_w - sh.pad_w;
                              int64_t s0 = 0, s1 = sh.kw;
                              while (s0 < s1 && w0 + s0 * sh.dil_w < 0) ++s0;
                              while (s1 > s0 && w0 + (s1 - 1) * sh.dil_w >= sh.w) --s1;
                              return std::array<int64_t, 3>{w0, s0, s1};
                          };
                          for (int64_t plane = pl0; plane < pl1; ++plane) {
                              const float* in = x + plane * sh.h * sh.w;
                              float* out = y + plane * sh.p * sh.q;
                              for (int64_t p = 0; p < sh.p; ++p) {
                                  const int64_t h0 = p * sh.stride_h - sh.pad_h;
                                  // Rows of the window that fall inside the input.
                                  int64_t r0 = 0, r1 = sh.kh;
                                  while (r0 < r1 && h0 + r0 * sh.dil_h < 0) ++r0;
                                  while (r1 > r0 && h0 + (r1 - 1) * sh.dil_h >= sh.h) --r1;
                                  if (rows_first && r1 > r0) {
                                      std::copy_n(in + (h0 + r0 * sh.dil_h) * sh.w, sh.w, rm);
                                      for (int64_t r = r0 + 1; r < r1; ++r)
                                          max_into(sh.w, in + (h0 + r * sh.dil_h) * sh.w, rm);
                                      // Columns: rm is -inf outside the input, so no bounds tests.
                                      float* o = out + p * sh.q;
                                      if (k3s2) {
                                          max_cols_k3s2(sh.q, rm - sh.pad_w, o);
                                          continue;
                                      }
                                      if (k2s2) {
                                          max_cols_k2s2(sh.q, rm - sh.pad_w, o);
                                          continue;
                                      }
                                      for (int64_t q = 0; q < sh.q; ++q) {
                                          const float* win = rm + q * sh.stride_w - sh.pad_w;
                                          float m = win[0];
                                          for (int64_t s = 1; s < sh.kw; ++s)
                                              m = std::max(m, win[s * sh.dil_w]);
                                          o[q] = m;
                                      }
                                      continue;
                                  }
                                  for (int64_t q = 0; q < sh.q; ++q) {
                                      const auto [w0, s0, s1] = window_columns(q);
                                      float m = -std::numeric_limits<float>::infinity();
                                      for (int64_t r = r0; r < r1; ++r) {
                                          const float* row = in + (h0 + r * sh.dil_h) * sh.w + w0;
                                          for (int64_t s = s0; s < s1; ++s)
                                              m = std::max(m, row[s * sh.dil_w]);
                                      }
                                      out[p * sh.q + q] = m;
                                  }
                              }
                          }
                      });
}

void avg_pool2d_f32_cpu(ThreadPool& pool, const PoolShape& sh, const float* x, float* y) {
    pool.parallel_for(
        sh.n * sh.c, kFlopsPerElement * sh.n * sh.c * sh.p * sh.q * sh.kh * sh.kw,
        [&](int64_t pl0, int64_t pl1) {
            for (int64_t plane = pl0; plane < pl1; ++plane) {
                const float* in = x + plane * sh.h * sh.w;
                float* out = y + plane * sh.p * sh.q;
                for (int64_t p = 0; p < sh.p; ++p) {
                    int64_t hs = p * sh.stride_h - sh.pad_h;
                    int64_t he = std::min(hs + sh.kh, sh.h + sh.pad_h);
                    const int64_t hspan = he - hs;
                    hs = std::max<int64_t>(hs, 0);
                    he = std::min(he, sh.h);
                    for (int64_t q = 0; q < sh.q; ++q) {
                        int64_t ws = q * sh.stride_w - sh.pad_w;
                        int64_t we = std::min(ws + sh.kw, sh.w + sh.pad_w);
                        const int64_t wspan = we - ws;
                        ws = std::max<int64_t>(ws, 0);
                        we = std::min(we, sh.w);
                        float sum = 0.f;
                        for (int64_t i = hs; i < he; ++i)
                            for (int64_t j = ws; j < we; ++j) sum += in[i * sh.w + j];
                        const int64_t count =
                            sh.count_include_pad ? hspan * wspan : (he - hs) * (we - ws);
                        out[p * sh.q + q] = count > 0 ? sum / static_cast<float>(count) : 0.f;
                    }
                }
            }
        });
}

namespace {

// The mean of a whole plane (global pooling: the plane is one contiguous run): 16 partial sums
// (a vector's lanes) over chunks of 1024 values, the chunks' sums in double. Row by row, as the
// general loop below goes, a 7x7 plane cost 7 passes of 16 double additions (MobileNetV2's
// 1280 x 7x7 head pooling took 0.17 ms, as long as a 1x1 convolution).
float plane_mean(const float* in, int64_t len) {
    constexpr int64_t kChunk = 1024;
    double sum = 0.0;
    for (int64_t c0 = 0; c0 < len; c0 += kChunk) {
        const int64_t c1 = std::min(len, c0 + kChunk);
        float part[16] = {};
        int64_t j = c0;
        for (; j + 16 <= c1; j += 16)
            for (int k = 0; k < 16; ++k) part[k] += in[j + k];
        for (; j < c1; ++j) part[j % 16] += in[j];
        for (int k = 0; k < 16; ++k) sum += part[k];
    }
    return static_cast<float>(sum / double(len));
}

}  // namespace

void adaptive_avg_pool2d_f32_cpu(ThreadPool& pool, int64_t n, int64_t c, int64_t h, int64_t w,
                                 int64_t P, int64_t Q, const float* x, float* y) {
    pool.parallel_for(n * c, kFlopsPerElement * n * c * h * w, [&](int64_t pl0, int64_t pl1) {
        if (P == 1 && Q == 1) {
            for (int64_t plane = pl0; plane < pl1; ++plane)
                y[plane] = plane_mean(x + plane * h * w, h * w);
            return;
        }
        for (int64_t plane = pl0; plane < pl1; ++plane) {
            const float* in = x + plane * h * w;
            float* out = y + plane * P * Q;
            for (int64_t p = 0; p < P; ++p) {
                const int64_t hs = p * h / P, he = ((p + 1) * h + P - 1) / P;
                for (int64_t q = 0; q < Q; ++q) {
                    const int64_t ws = q * w / Q, we = ((q + 1) * w + Q - 1) / Q;
                    // Each row in 16 partial sums (a vector's lanes), the rows' sums in
                    // double: one float running over a squeeze-and-excite block's whole map
                    // (EfficientNet-B7's 300x300) lost 2e-3 of the network's output.
                    double sum = 0.0;
                    for (int64_t i = hs; i < he; ++i) {
                        const float* row = in + i * w + ws;
                        const int64_t len = we - ws;
                        float part[16] = {};
                        int64_t j = 0;
                        for (; j + 16 <= len; j += 16)
                            for (int k = 0; k < 16; ++k) part[k] += row[j + k];
                        for (; j < len; ++j) part[j % 16] += row[j];
                        for (int k = 0; k < 16; ++k) sum += part[k];
                    }
                    out[p * Q + q] = static_cast<float>(sum / double((he - hs) * (we - ws)));
                }
            }
        }
    });
}

}  // namespace nse
