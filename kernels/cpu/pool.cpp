#include "kernels/cpu/pool.h"

#include <algorithm>
#include <array>
#include <limits>

#include "base/thread_pool.h"
#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/simd/simd_kernels.h"

namespace nse {

namespace {

constexpr int64_t kRowBuffer = 4096;  // floats: input rows up to this wide take the fast path
constexpr int64_t kRowPad = 64;       // -inf floats on each side of the row buffer
// Floats past the right margin that the SIMD bodies' whole-vector reads may touch (up to two
// 16-lane vectors from a last window's start; only lanes inside the margins are used).
constexpr int64_t kVectorSlack = 64;

// Whether max_pool_plane runs `sh`: rows of at most kRowBuffer values, padding and the last
// window inside the row buffer's -inf margins.
bool rows_first(const PoolShape& sh) {
    const int64_t span = (sh.kw - 1) * sh.dil_w;  // window columns beyond its first
    return sh.w <= kRowBuffer && sh.pad_w <= kRowPad &&
           (sh.q - 1) * sh.stride_w - sh.pad_w + span < sh.w + kRowPad;
}

// One plane, each output row in two passes: the maximum over the window's rows for every input
// column into rm (the three rows of a 3-tall window in one pass), then over the window's columns
// of that, rm being -inf outside the input (kRowPad values each side), so no bounds tests: kh +
// kw reads per output instead of kh * kw scattered ones. The generic path's; the SIMD paths run
// simd/pool_body.h, the same passes in vectors with partial ones at a row's end. (Row by row
// through three calls of autovectorised loops, with a scalar loop for stride 1, GoogLeNet's 13
// poolings took 2.5 ms at 1 thread, against ONNX Runtime's 0.53.)
void max_pool_plane_portable(const PoolShape& sh, const float* __restrict in, float* __restrict out,
                             float* __restrict rm) {
    const int64_t W = sh.w, Q = sh.q;
    const bool dense = sh.dil_w == 1;
    // Inputs from memory: one row at a time (kPoolStreamedInputBytes, as the SIMD bodies).
    const bool streamed =
        sh.n * sh.c * sh.h * sh.w * int64_t(sizeof(float)) > kPoolStreamedInputBytes;
    for (int64_t p = 0; p < sh.p; ++p) {
        float* __restrict o = out + p * Q;
        const int64_t h0 = p * sh.stride_h - sh.pad_h;
        // Rows of the window that fall inside the input.
        int64_t r0 = 0, r1 = sh.kh;
        while (r0 < r1 && h0 + r0 * sh.dil_h < 0) ++r0;
        while (r1 > r0 && h0 + (r1 - 1) * sh.dil_h >= sh.h) --r1;
        if (r1 <= r0) {
            for (int64_t q = 0; q < Q; ++q) o[q] = -std::numeric_limits<float>::infinity();
            continue;
        }
        const float* __restrict a = in + (h0 + r0 * sh.dil_h) * W;
        if (r1 - r0 == 3 && !streamed) {
            const float* __restrict b = a + sh.dil_h * W;
            const float* __restrict c = b + sh.dil_h * W;
            for (int64_t x = 0; x < W; ++x) rm[x] = std::max(std::max(a[x], b[x]), c[x]);
        } else {
            for (int64_t x = 0; x < W; ++x) rm[x] = a[x];
            for (int64_t r = r0 + 1; r < r1; ++r) {
                const float* __restrict row = in + (h0 + r * sh.dil_h) * W;
                for (int64_t x = 0; x < W; ++x) rm[x] = std::max(rm[x], row[x]);
            }
        }
        const float* __restrict m = rm - sh.pad_w;  // m[q * stride + s]: the window's taps
        if (dense && sh.kw == 3 && sh.stride_w == 1) {
            for (int64_t q = 0; q < Q; ++q) o[q] = std::max(std::max(m[q], m[q + 1]), m[q + 2]);
        } else if (dense && sh.kw == 3 && sh.stride_w == 2) {
            for (int64_t q = 0; q < Q; ++q)
                o[q] = std::max(std::max(m[2 * q], m[2 * q + 1]), m[2 * q + 2]);
        } else if (dense && sh.kw == 2 && sh.stride_w == 2) {
            for (int64_t q = 0; q < Q; ++q) o[q] = std::max(m[2 * q], m[2 * q + 1]);
        } else {
            for (int64_t q = 0; q < Q; ++q) {
                const float* win = m + q * sh.stride_w;
                float v = win[0];
                for (int64_t s = 1; s < sh.kw; ++s) v = std::max(v, win[s * sh.dil_w]);
                o[q] = v;
            }
        }
    }
}
using PlaneFn = void (*)(const PoolShape&, const float*, float*, float*, float*);
using AvgPlaneFn = void (*)(const PoolShape&, const float*, float*, float*, float*, const float*);

// The portable body's form of the SIMD bodies' contract: one row buffer is enough for it.
void max_pool_plane_generic(const PoolShape& sh, const float* in, float* out, float* rm, float*) {
    max_pool_plane_portable(sh, in, out, rm);
}

// The plane kernels of the path in use: the SIMD bodies (simd/pool_body.h), or the portable max
// body and no average one (the generic path's loop in avg_pool_planes).
struct PlaneKernels {
    PlaneFn max;
    AvgPlaneFn avg;
};

PlaneKernels plane_kernels() {
    switch (cpu_path()) {
#if defined(__x86_64__)
        case CpuPath::Avx512:
            return {avx512::max_pool_plane, avx512::avg_pool_plane};
        case CpuPath::Avx2:
            return {avx2::max_pool_plane, avx2::avg_pool_plane};
#endif
#if defined(__aarch64__)
        case CpuPath::Neon:
            return {neon::max_pool_plane, neon::avg_pool_plane};
#endif
        default:
            return {max_pool_plane_generic, nullptr};
    }
}

// The two row buffers the plane kernels alternate between, each with its margins (-inf for a
// maximum, 0 for a sum), as long as this row needs: filling two of the widest took longer than
// LeNet's poolings.
struct RowBuffers {
    float data[2 * (kRowBuffer + 2 * kRowPad + kVectorSlack)];
    int64_t floats;
    RowBuffers(int64_t w, float margin) : floats(w + 2 * kRowPad + kVectorSlack) {
        std::fill_n(data, 2 * floats, margin);
    }
    float* first() { return data + kRowPad; }
    float* second() { return data + floats + kRowPad; }
};

// Planes [pl0, pl1) of x into y.
void max_pool_planes(const PoolShape& sh, const float* x, float* y, int64_t pl0, int64_t pl1) {
    if (rows_first(sh)) {
        RowBuffers rm(sh.w, -std::numeric_limits<float>::infinity());
        const PlaneFn plane_fn = plane_kernels().max;
        for (int64_t plane = pl0; plane < pl1; ++plane)
            plane_fn(sh, x + plane * sh.h * sh.w, y + plane * sh.p * sh.q, rm.first(), rm.second());
        return;
    }
    // Rows too wide for the buffer: every window tap by tap, clipped to the input.
    for (int64_t plane = pl0; plane < pl1; ++plane) {
        const float* in = x + plane * sh.h * sh.w;
        float* out = y + plane * sh.p * sh.q;
        for (int64_t p = 0; p < sh.p; ++p) {
            const int64_t h0 = p * sh.stride_h - sh.pad_h;
            for (int64_t q = 0; q < sh.q; ++q) {
                const int64_t w0 = q * sh.stride_w - sh.pad_w;
                float m = -std::numeric_limits<float>::infinity();
                for (int64_t r = 0; r < sh.kh; ++r) {
                    const int64_t ih = h0 + r * sh.dil_h;
                    if (ih < 0 || ih >= sh.h) continue;
                    for (int64_t s = 0; s < sh.kw; ++s) {
                        const int64_t iw = w0 + s * sh.dil_w;
                        if (iw >= 0 && iw < sh.w) m = std::max(m, in[ih * sh.w + iw]);
                    }
                }
                out[p * sh.q + q] = m;
            }
        }
    }
}

}  // namespace

void max_pool2d_f32_cpu(ThreadPool& pool, const PoolShape& sh, const float* x, float* y) {
    pool.parallel_for(sh.n * sh.c, kFlopsPerElement * sh.n * sh.c * sh.p * sh.q * sh.kh * sh.kw,
                      [&](int64_t pl0, int64_t pl1) { max_pool_planes(sh, x, y, pl0, pl1); });
}

namespace {

// The values an average divides by along one axis at output position i (input `in` long, window
// k, PyTorch's count_include_pad rule): the window clipped to the padded input, or to the input.
int64_t window_count(int64_t i, int64_t k, int64_t stride, int64_t pad, int64_t in,
                     bool include_pad) {
    const int64_t s = i * stride - pad, e = std::min(s + k, in + pad);
    return include_pad ? e - s : std::min(e, in) - std::max<int64_t>(s, 0);
}

// Planes [pl0, pl1) of x into y: rows reduced in vectors on the SIMD paths (simd/pool_body.h;
// DenseNet-121's three 2x2 transitions took 0.99 ms at 1 thread output by output, ONNX
// Runtime's 0.09), each output's window summed where it lies otherwise.
void avg_pool_planes(const PoolShape& sh, const float* x, float* y, int64_t pl0, int64_t pl1) {
    const AvgPlaneFn plane_fn = plane_kernels().avg;
    if (plane_fn && rows_first(sh) && sh.q <= kRowBuffer) {
        RowBuffers rm(sh.w, 0.f);
        float wcount[kRowBuffer];
        for (int64_t q = 0; q < sh.q; ++q) {
            const int64_t n =
                window_count(q, sh.kw, sh.stride_w, sh.pad_w, sh.w, sh.count_include_pad);
            wcount[q] = n > 0 ? float(n) : 1.f;  // (no values: their sum 0 stays 0)
        }
        for (int64_t plane = pl0; plane < pl1; ++plane)
            plane_fn(sh, x + plane * sh.h * sh.w, y + plane * sh.p * sh.q, rm.first(), rm.second(),
                     wcount);
        return;
    }
    for (int64_t plane = pl0; plane < pl1; ++plane) {
        const float* in = x + plane * sh.h * sh.w;
        float* out = y + plane * sh.p * sh.q;
        for (int64_t p = 0; p < sh.p; ++p) {
            const int64_t hs = std::max<int64_t>(p * sh.stride_h - sh.pad_h, 0);
            const int64_t he = std::min(p * sh.stride_h - sh.pad_h + sh.kh, sh.h);
            const int64_t rows =
                window_count(p, sh.kh, sh.stride_h, sh.pad_h, sh.h, sh.count_include_pad);
            for (int64_t q = 0; q < sh.q; ++q) {
                const int64_t ws = std::max<int64_t>(q * sh.stride_w - sh.pad_w, 0);
                const int64_t we = std::min(q * sh.stride_w - sh.pad_w + sh.kw, sh.w);
                float sum = 0.f;
                for (int64_t i = hs; i < he; ++i)
                    for (int64_t j = ws; j < we; ++j) sum += in[i * sh.w + j];
                const int64_t count = rows * window_count(q, sh.kw, sh.stride_w, sh.pad_w, sh.w,
                                                          sh.count_include_pad);
                out[p * sh.q + q] = count > 0 ? sum / static_cast<float>(count) : 0.f;
            }
        }
    }
}

}  // namespace

void avg_pool2d_f32_cpu(ThreadPool& pool, const PoolShape& sh, const float* x, float* y) {
    pool.parallel_for(sh.n * sh.c, kFlopsPerElement * sh.n * sh.c * sh.p * sh.q * sh.kh * sh.kw,
                      [&](int64_t pl0, int64_t pl1) { avg_pool_planes(sh, x, y, pl0, pl1); });
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
        // Windows of one value (VGG's 7x7 -> 7x7): a copy (0.33 -> 0.004 ms in VGG16).
        if (P == h && Q == w) {
            std::copy(x + pl0 * h * w, x + pl1 * h * w, y + pl0 * h * w);
            return;
        }
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
