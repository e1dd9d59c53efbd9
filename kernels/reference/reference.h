// Naive reference kernels: the obvious loops, written for clarity and used only by tests to
// check the fast kernels. Same signatures and semantics as the kernels in kernels/cpu/.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/cpu/tensor_ops.h"
#include "kernels/cpu/unary.h"
#include "kernels/shapes.h"

namespace nse::ref {

void conv2d(const ConvShape& shape, const float* x, const float* w, const float* b, Activation act,
            float* y);
void max_pool2d(const PoolShape& shape, const float* x, float* y);
void avg_pool2d(const PoolShape& shape, const float* x, float* y);
void adaptive_avg_pool2d(int64_t n, int64_t c, int64_t h, int64_t w, int64_t p, int64_t q,
                         const float* x, float* y);
void linear(int64_t m, int64_t in, int64_t out, const float* x, const float* w, const float* b,
            Activation act, float* y);
void softmax(int64_t outer, int64_t dim, int64_t inner, const float* x, float* y);
// The unary ops of kernels/cpu/unary.h, in double from their definitions.
void unary(int64_t n, UnaryOp op, const float* x, float* y);
void channel_affine(int64_t outer, int64_t c, int64_t inner, const float* scale, const float* shift,
                    Activation act, const float* x, float* y);
// y = a op b, NumPy broadcasting, one output index at a time.
void binary(BinaryOp op, const Shape& a_shape, const float* a, const Shape& b_shape, const float* b,
            const Shape& y_shape, float* y);
void permute(const Shape& x_shape, const std::vector<int64_t>& perm, const float* x, float* y);
void layer_norm(int64_t outer, int64_t d, int64_t inner, const float* gamma, const float* beta,
                float eps, const float* x, float* y);

// Multi-head self-attention on packed q|k|v (kernels/cpu/attention.h's layout and windows,
// bias and mask), in double. window 0: one window of all L tokens.
// head_scale (per head, or null: `scale`), normalize: Swin V2's cosine attention.
void attention(int64_t batch, int64_t L, int64_t heads, int64_t d, int64_t window, float scale,
               const float* qkv, const float* bias, const float* mask, int64_t masks, float* out,
               const float* head_scale = nullptr, bool normalize = false);

// Swin's window partition of x [n, h, w, c] as torchvision writes it: pad to whole windows, roll
// by (-sh, -sw) over the padded map, view as windows and permute; y is [n, hp wp, c].
void window_partition(int64_t n, int64_t h, int64_t w, int64_t c, int64_t wh, int64_t ww,
                      int64_t sh, int64_t sw, const float* x, float* y);

}  // namespace nse::ref
