#include <cfloat>

#include "kernels/cuda/check.h"
#include "kernels/cuda/ops.h"

namespace nse::cuda {

namespace {

constexpr int kThreads = 256;

unsigned blocks_for(int64_t count) {
    const int64_t b = (count + kThreads - 1) / kThreads;
    return static_cast<unsigned>(b < 65535 * 16 ? (b > 0 ? b : 1) : 65535 * 16);
}

__device__ __forceinline__ float act_fn(float v, int act) {
    if (act == 0) return v;
    v = v > 0.f ? v : 0.f;
    return (act == 2 && v > 6.f) ? 6.f : v;
}

int act_code(Activation a) { return a == Activation::None ? 0 : a == Activation::Relu ? 1 : 2; }

__global__ void bias_act_kernel(float* y, const float* bias, int64_t count, int64_t channels,
                                int64_t inner, int act) {
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < count;
         i += int64_t(gridDim.x) * blockDim.x) {
        float v = y[i];
        if (bias) v += bias[(i / inner) % channels];
        y[i] = act_fn(v, act);
    }
}

__global__ void act_kernel(const float* x, float* y, int64_t count, int act) {
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < count;
         i += int64_t(gridDim.x) * blockDim.x)
        y[i] = act_fn(x[i], act);
}

__global__ void add_kernel(const float* a, const float* b, float* y, int64_t count, int act) {
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < count;
         i += int64_t(gridDim.x) * blockDim.x)
        y[i] = act_fn(a[i] + b[i], act);
}

// One block per row of a [rows, dim] softmax (inner == 1).
__global__ void softmax_rows_kernel(const float* x, float* y, int64_t dim) {
    __shared__ float red[kThreads / 32];
    const float* xr = x + blockIdx.x * dim;
    float* yr = y + blockIdx.x * dim;
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    auto block_reduce = [&](float v, bool is_max) {
        for (int o = 16; o > 0; o /= 2) {
            const float other = __shfl_xor_sync(0xffffffffu, v, o);
            v = is_max ? fmaxf(v, other) : v + other;
        }
        if (lane == 0) red[warp] = v;
        __syncthreads();
        v = threadIdx.x < blockDim.x / 32 ? red[threadIdx.x] : (is_max ? -FLT_MAX : 0.f);
        if (warp == 0)
            for (int o = 16; o > 0; o /= 2) {
                const float other = __shfl_xor_sync(0xffffffffu, v, o);
                v = is_max ? fmaxf(v, other) : v + other;
            }
        if (threadIdx.x == 0) red[0] = v;
        __syncthreads();
        v = red[0];
        __syncthreads();
        return v;
    };
    float m = -FLT_MAX;
    for (int64_t d = threadIdx.x; d < dim; d += blockDim.x) m = fmaxf(m, xr[d]);
    m = block_reduce(m, true);
    float s = 0.f;
    for (int64_t d = threadIdx.x; d < dim; d += blockDim.x) s += expf(xr[d] - m);
    s = block_reduce(s, false);
    for (int64_t d = threadIdx.x; d < dim; d += blockDim.x) yr[d] = expf(xr[d] - m) / s;
}

// One thread per (outer, inner) column of a strided softmax.
__global__ void softmax_cols_kernel(const float* x, float* y, int64_t outer, int64_t dim,
                                    int64_t inner) {
    for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < outer * inner;
         t += int64_t(gridDim.x) * blockDim.x) {
        const int64_t o = t / inner, i = t % inner;
        const float* xc = x + o * dim * inner + i;
        float* yc = y + o * dim * inner + i;
        float m = -FLT_MAX, s = 0.f;
        for (int64_t d = 0; d < dim; ++d) m = fmaxf(m, xc[d * inner]);
        for (int64_t d = 0; d < dim; ++d) s += expf(xc[d * inner] - m);
        for (int64_t d = 0; d < dim; ++d) yc[d * inner] = expf(xc[d * inner] - m) / s;
    }
}

__global__ void pool_kernel(PoolShape sh, bool is_max, const float* x, float* y) {
    const int64_t count = sh.n * sh.c * sh.p * sh.q;
    for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < count;
         t += int64_t(gridDim.x) * blockDim.x) {
        const int64_t q = t % sh.q, p = (t / sh.q) % sh.p, plane = t / (sh.q * sh.p);
        const float* xp = x + plane * sh.h * sh.w;
        float m = -INFINITY, sum = 0.f;
        int64_t inside = 0, padded = 0;
        for (int64_t r = 0; r < sh.kh; ++r)
            for (int64_t s = 0; s < sh.kw; ++s) {
                const int64_t ih = p * sh.stride_h - sh.pad_h + r * (is_max ? sh.dil_h : 1);
                const int64_t iw = q * sh.stride_w - sh.pad_w + s * (is_max ? sh.dil_w : 1);
                if (ih < sh.h + sh.pad_h && iw < sh.w + sh.pad_w) ++padded;
                if (ih >= 0 && ih < sh.h && iw >= 0 && iw < sh.w) {
                    const float v = xp[ih * sh.w + iw];
                    m = fmaxf(m, v);
                    sum += v;
                    ++inside;
                }
            }
        const int64_t n = sh.count_include_pad ? padded : inside;
        y[t] = is_max ? m : (n ? sum / float(n) : 0.f);
    }
}

__global__ void adaptive_avg_kernel(int64_t planes, int64_t h, int64_t w, int64_t P, int64_t Q,
                                    const float* x, float* y) {
    for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < planes * P * Q;
         t += int64_t(gridDim.x) * blockDim.x) {
        const int64_t q = t % Q, p = (t / Q) % P, plane = t / (P * Q);
        const int64_t hs = (p * h) / P, he = ((p + 1) * h + P - 1) / P;
        const int64_t ws = (q * w) / Q, we = ((q + 1) * w + Q - 1) / Q;
        const float* xp = x + plane * h * w;
        float sum = 0.f;
        for (int64_t i = hs; i < he; ++i)
            for (int64_t j = ws; j < we; ++j) sum += xp[i * w + j];
        y[t] = sum / float((he - hs) * (we - ws));
    }
}

// Global average pooling (output 1x1): one warp per plane, coalesced reads.
__global__ void global_avg_kernel(int64_t planes, int64_t hw, const float* x, float* y) {
    const int64_t plane = blockIdx.x * int64_t(blockDim.x / 32) + threadIdx.x / 32;
    const int lane = threadIdx.x % 32;
    if (plane >= planes) return;
    float s = 0.f;
    for (int64_t i = lane; i < hw; i += 32) s += x[plane * hw + i];
    for (int o = 16; o > 0; o /= 2) s += __shfl_xor_sync(0xffffffffu, s, o);
    if (lane == 0) y[plane] = s / float(hw);
}

// One thread per output element; the filter taps of a channel are few (3x3, 5x5) and the input
// rows are read by neighbouring threads, so the cache serves the reuse.
template <int R, int S>
__global__ void depthwise_kernel(ConvShape sh, int64_t P, int64_t Q, const float* __restrict__ x,
                                 const float* __restrict__ w, const float* __restrict__ bias,
                                 int act, float* __restrict__ y) {
    const int64_t count = sh.n * sh.k * P * Q;
    const int kr = R > 0 ? R : int(sh.r), ks = S > 0 ? S : int(sh.s);
    for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < count;
         t += int64_t(gridDim.x) * blockDim.x) {
        const int64_t q = t % Q, p = (t / Q) % P, plane = t / (P * Q);
        const int64_t ch = plane % sh.k;
        const float* xp = x + plane * sh.h * sh.w;
        const float* wp = w + ch * kr * ks;
        float acc = 0.f;
#pragma unroll
        for (int r = 0; r < kr; ++r) {
            const int64_t ih = p * sh.stride_h - sh.pad_h + r * sh.dil_h;
            if (ih < 0 || ih >= sh.h) continue;
#pragma unroll
            for (int s = 0; s < ks; ++s) {
                const int64_t iw = q * sh.stride_w - sh.pad_w + s * sh.dil_w;
                if (iw >= 0 && iw < sh.w) acc += xp[ih * sh.w + iw] * wp[r * ks + s];
            }
        }
        if (bias) acc += bias[ch];
        y[t] = act_fn(acc, act);
    }
}

}  // namespace

void bias_activation(float* y, const float* bias, int64_t count, int64_t channels, int64_t inner,
                     Activation act, cudaStream_t stream) {
    if (count == 0 || (!bias && act == Activation::None)) return;
    bias_act_kernel<<<blocks_for(count), kThreads, 0, stream>>>(y, bias, count, channels, inner,
                                                                act_code(act));
    NSE_CUDA_LAUNCH_CHECK("bias_act_kernel");
}

void activation(const float* x, float* y, int64_t count, Activation act, cudaStream_t stream) {
    if (count == 0) return;
    act_kernel<<<blocks_for(count), kThreads, 0, stream>>>(x, y, count, act_code(act));
    NSE_CUDA_LAUNCH_CHECK("act_kernel");
}

void add(const float* a, const float* b, float* y, int64_t count, Activation act,
         cudaStream_t stream) {
    if (count == 0) return;
    add_kernel<<<blocks_for(count), kThreads, 0, stream>>>(a, b, y, count, act_code(act));
    NSE_CUDA_LAUNCH_CHECK("add_kernel");
}

void softmax(const float* x, float* y, int64_t outer, int64_t dim, int64_t inner,
             cudaStream_t stream) {
    if (outer * dim * inner == 0) return;
    if (inner == 1 && outer <= 2147483647) {
        softmax_rows_kernel<<<unsigned(outer), kThreads, 0, stream>>>(x, y, dim);
        NSE_CUDA_LAUNCH_CHECK("softmax_rows_kernel");
    } else {
        softmax_cols_kernel<<<blocks_for(outer * inner), kThreads, 0, stream>>>(x, y, outer, dim,
                                                                                inner);
        NSE_CUDA_LAUNCH_CHECK("softmax_cols_kernel");
    }
}

void pool2d(const PoolShape& shape, bool is_max, const float* x, float* y, cudaStream_t stream) {
    const int64_t count = shape.n * shape.c * shape.p * shape.q;
    if (count == 0) return;
    pool_kernel<<<blocks_for(count), kThreads, 0, stream>>>(shape, is_max, x, y);
    NSE_CUDA_LAUNCH_CHECK("pool_kernel");
}

void adaptive_avg_pool2d(int64_t n, int64_t c, int64_t h, int64_t w, int64_t p, int64_t q,
                         const float* x, float* y, cudaStream_t stream) {
    const int64_t planes = n * c;
    if (planes * p * q == 0) return;
    if (p == 1 && q == 1) {
        global_avg_kernel<<<blocks_for(planes * 32), kThreads, 0, stream>>>(planes, h * w, x, y);
        NSE_CUDA_LAUNCH_CHECK("global_avg_kernel");
        return;
    }
    adaptive_avg_kernel<<<blocks_for(planes * p * q), kThreads, 0, stream>>>(planes, h, w, p, q, x,
                                                                             y);
    NSE_CUDA_LAUNCH_CHECK("adaptive_avg_kernel");
}

void depthwise_conv2d(const ConvShape& sh, const float* x, const float* w, const float* bias,
                      Activation act, float* y, cudaStream_t stream) {
    const int64_t P = sh.p(), Q = sh.q(), count = sh.n * sh.k * P * Q;
    if (count == 0) return;
    const unsigned blocks = blocks_for(count);
    if (sh.r == 3 && sh.s == 3)
        depthwise_kernel<3, 3>
            <<<blocks, kThreads, 0, stream>>>(sh, P, Q, x, w, bias, act_code(act), y);
    else if (sh.r == 5 && sh.s == 5)
        depthwise_kernel<5, 5>
            <<<blocks, kThreads, 0, stream>>>(sh, P, Q, x, w, bias, act_code(act), y);
    else
        depthwise_kernel<0, 0>
            <<<blocks, kThreads, 0, stream>>>(sh, P, Q, x, w, bias, act_code(act), y);
    NSE_CUDA_LAUNCH_CHECK("depthwise_kernel");
}

}  // namespace nse::cuda
