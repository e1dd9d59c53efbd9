// CPU kernels of the ops that reshape data or act per channel: the per-channel affine map of an
// unfolded batch norm, element-wise binary ops with broadcasting (squeeze-and-excite's scale),
// permutations (channel shuffle, channels-last views), slices (chunk, split) and normalisation
// over one axis (layer norm).
#pragma once

#include <cstdint>
#include <vector>

#include "base/tensor.h"
#include "kernels/shapes.h"

namespace nse {

class ThreadPool;

// x:[outer, c, inner] -> y = act(x * scale[c] + shift[c]); x and y may be the same buffer.
void channel_affine_f32_cpu(ThreadPool& pool, int64_t outer, int64_t c, int64_t inner,
                            const float* scale, const float* shift, Activation act, const float* x,
                            float* y);

enum class BinaryOp { Add, Sub, Mul, Div };

// y = a op b with NumPy broadcasting: a_shape and b_shape are right-aligned against y_shape (the
// broadcast of the two, which the caller computed), each dimension equal to y's or 1.
void binary_f32_cpu(ThreadPool& pool, BinaryOp op, const Shape& a_shape, const float* a,
                    const Shape& b_shape, const float* b, const Shape& y_shape, float* y);

// y = x transposed by `perm` (y's dimension i is x's dimension perm[i]); rank at most 8.
void permute_f32_cpu(ThreadPool& pool, const Shape& x_shape, const std::vector<int64_t>& perm,
                     const float* x, float* y);

// x:[outer, d, inner] -> y:[outer, count, inner] with y[o, j, i] = x[o, start + j * step, i].
void slice_f32_cpu(int64_t outer, int64_t d, int64_t inner, int64_t start, int64_t step,
                   int64_t count, const float* x, float* y);

// Normalises x:[outer, d, inner] over its middle axis: y = (x - mean) / sqrt(var + eps) * gamma
// + beta, mean and (biased) variance over the d values of each (outer, inner) position; gamma and
// beta have d values (null: 1 and 0). Channels of an NCHW map are d = C, inner = H W; the last
// axis (a transformer's features) is inner = 1.
void layer_norm_f32_cpu(ThreadPool& pool, int64_t outer, int64_t d, int64_t inner,
                        const float* gamma, const float* beta, float eps, const float* x, float* y);

// Swin's window copies (layers/windows.h): a map [n, h, w, c] padded to whole wh x ww windows
// (hp x wp), rolled by -shift, in windows; window (wy, wx)'s token (iy, ix) is row
// ((wy * wp / ww + wx) * wh + iy) * ww + ix of [n, hp wp, c], taken from the map's
// ((wy wh + iy + sh) mod hp, (wx ww + ix + sw) mod wp), zero where that is padding. `reverse`:
// from the windows (x) back to the map (y), cropped to h x w.
struct WindowShape {
    int64_t n, h, w, c, wh, ww, sh, sw;
};
void window_copy_f32_cpu(ThreadPool& pool, const WindowShape& s, bool reverse, const float* x,
                         float* y);

}  // namespace nse
