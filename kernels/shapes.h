// Shape structs shared by the CPU, reference (and later CUDA) kernels. All tensors are NCHW fp32.
#pragma once

#include <cstdint>

namespace nse {

enum class Activation { None, Relu, Relu6 };

inline float activate(Activation act, float v) {
    if (act == Activation::None) return v;
    v = v > 0.f ? v : 0.f;
    return (act == Activation::Relu6 && v > 6.f) ? 6.f : v;
}

// x:[n, c, h, w] * w:[k, c/groups, r, s] -> y:[n, k, p(), q()]
struct ConvShape {
    int64_t n = 1, c = 1, h = 1, w = 1;
    int64_t k = 1, r = 1, s = 1;
    int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dil_h = 1, dil_w = 1;
    int64_t groups = 1;

    int64_t p() const { return (h + 2 * pad_h - dil_h * (r - 1) - 1) / stride_h + 1; }
    int64_t q() const { return (w + 2 * pad_w - dil_w * (s - 1) - 1) / stride_w + 1; }
    bool depthwise() const { return groups == c && groups == k && groups > 1; }
    bool pointwise() const {  // 1x1, stride 1, no padding: a plain GEMM on the input
        return r == 1 && s == 1 && stride_h == 1 && stride_w == 1 && pad_h == 0 && pad_w == 0;
    }
    double flops() const { return 2.0 * n * k * p() * q() * (c / groups) * r * s; }
};

// x:[n, c, h, w] -> y:[n, c, p, q]; p, q computed by pool_out_size.
struct PoolShape {
    int64_t n = 1, c = 1, h = 1, w = 1;
    int64_t kh = 1, kw = 1, stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0;
    int64_t dil_h = 1, dil_w = 1;  // max pooling only
    bool ceil_mode = false;
    bool count_include_pad = true;  // average pooling only
    int64_t p = 1, q = 1;
};

// PyTorch's pooling output size, including its ceil_mode rule that the last window must start
// inside the input or the left padding.
inline int64_t pool_out_size(int64_t in, int64_t k, int64_t stride, int64_t pad, int64_t dil,
                             bool ceil_mode) {
    int64_t span = in + 2 * pad - dil * (k - 1) - 1;
    int64_t out = (ceil_mode ? (span + stride - 1) / stride : span / stride) + 1;
    if (ceil_mode && (out - 1) * stride >= in + pad) --out;
    return out;
}

}  // namespace nse
