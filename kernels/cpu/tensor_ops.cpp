#include "kernels/cpu/tensor_ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "base/error.h"
#include "base/thread_pool.h"
#include "kernels/cpu/elementwise.h"

namespace nse {

namespace {

// Splits `rows` rows of `row_values` values each over the pool when there are enough values.
template <typename F>
void rows_parallel(ThreadPool& pool, int64_t rows, int64_t row_values, const F& fn) {
    const int64_t total = rows * row_values;
    if (total < kElementwiseParallelValues || rows < 2 || pool.size() < 2) return fn(0, rows);
    pool.parallel_for(rows, fn);
}

// The sum of f(x[j]) over j < n in 16 running sums (one per lane of a vector, which the
// compiler keeps in registers: a single running sum would be a chain of dependent adds it may
// not reorder), then added up; the same order on every path and thread count.
template <typename F>
inline float lane_sum(int64_t n, const float* x, const F& f) {
    constexpr int kLanes = 16;
    float acc[kLanes] = {};
    int64_t j = 0;
    for (; j + kLanes <= n; j += kLanes)
        for (int l = 0; l < kLanes; ++l) acc[l] += f(x[j + l]);
    for (int l = 0; j < n; ++j, ++l) acc[l] += f(x[j]);
    float total = 0.f;
    for (int l = 0; l < kLanes; ++l) total += acc[l];
    return total;
}

template <BinaryOp kOp>
inline float apply(float a, float b) {
    if constexpr (kOp == BinaryOp::Add) return a + b;
    if constexpr (kOp == BinaryOp::Sub) return a - b;
    if constexpr (kOp == BinaryOp::Mul) return a * b;
    return a / b;
}

// One innermost row of a broadcast: sa, sb are 0 (the value repeats) or 1. The four cases are
// separate loops so the compiler vectorises each.
template <BinaryOp kOp>
void binary_row(int64_t n, const float* a, int64_t sa, const float* b, int64_t sb, float* y) {
    if (sa && sb) {
        for (int64_t i = 0; i < n; ++i) y[i] = apply<kOp>(a[i], b[i]);
    } else if (sa) {
        const float v = b[0];
        for (int64_t i = 0; i < n; ++i) y[i] = apply<kOp>(a[i], v);
    } else if (sb) {
        const float v = a[0];
        for (int64_t i = 0; i < n; ++i) y[i] = apply<kOp>(v, b[i]);
    } else {
        const float v = apply<kOp>(a[0], b[0]);
        for (int64_t i = 0; i < n; ++i) y[i] = v;
    }
}

constexpr int kMaxRank = 8;

// A broadcast as loops: dims[0..rank) of y, with a's and b's strides (0 where broadcast), adjacent
// dimensions merged where both inputs step through them the same way.
struct Loops {
    int rank = 0;
    int64_t dims[kMaxRank], sa[kMaxRank], sb[kMaxRank];
};

Loops broadcast_loops(const Shape& as, const Shape& bs, const Shape& ys) {
    const int r = int(ys.size());
    if (r > kMaxRank) throw Error(ErrorCode::Unsupported, "broadcast of rank > 8");
    int64_t da[kMaxRank], db[kMaxRank];
    for (int i = 0; i < r; ++i) {
        const int ia = i - (r - int(as.size())), ib = i - (r - int(bs.size()));
        da[i] = ia >= 0 ? as[ia] : 1;
        db[i] = ib >= 0 ? bs[ib] : 1;
    }
    // Strides of a and b in their own (contiguous) layout, 0 where the size is 1.
    int64_t stride_a[kMaxRank], stride_b[kMaxRank];
    int64_t pa = 1, pb = 1;
    for (int i = r - 1; i >= 0; --i) {
        stride_a[i] = da[i] == 1 ? 0 : pa;
        stride_b[i] = db[i] == 1 ? 0 : pb;
        pa *= da[i];
        pb *= db[i];
    }
    Loops l;
    for (int i = 0; i < r; ++i) {
        if (ys[i] == 1) continue;
        const bool merge = l.rank > 0 && (stride_a[i] == 0) == (l.sa[l.rank - 1] == 0) &&
                           (stride_b[i] == 0) == (l.sb[l.rank - 1] == 0);
        if (merge) {
            l.dims[l.rank - 1] *= ys[i];
            l.sa[l.rank - 1] = stride_a[i];
            l.sb[l.rank - 1] = stride_b[i];
        } else {
            l.dims[l.rank] = ys[i];
            l.sa[l.rank] = stride_a[i];
            l.sb[l.rank] = stride_b[i];
            ++l.rank;
        }
    }
    if (l.rank == 0) {
        l.rank = 1;
        l.dims[0] = 1;
        l.sa[0] = l.sb[0] = 0;
    }
    return l;
}

template <BinaryOp kOp>
void binary_loops(ThreadPool& pool, const Loops& l, const float* a, const float* b, float* y) {
    const int last = l.rank - 1;
    const int64_t n = l.dims[last];
    int64_t rows = 1;
    for (int i = 0; i < last; ++i) rows *= l.dims[i];
    rows_parallel(pool, rows, n, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
            int64_t oa = 0, ob = 0, rest = r;
            for (int i = last - 1; i >= 0; --i) {
                const int64_t idx = rest % l.dims[i];
                rest /= l.dims[i];
                oa += idx * l.sa[i];
                ob += idx * l.sb[i];
            }
            binary_row<kOp>(n, a + oa, l.sa[last] ? 1 : 0, b + ob, l.sb[last] ? 1 : 0, y + r * n);
        }
    });
}

}  // namespace

void channel_affine_f32_cpu(ThreadPool& pool, int64_t outer, int64_t c, int64_t inner,
                            const float* scale, const float* shift, Activation act, const float* x,
                            float* y) {
    rows_parallel(pool, outer * c, inner, [&](int64_t p0, int64_t p1) {
        for (int64_t p = p0; p < p1; ++p) {
            const float s = scale[p % c], t = shift[p % c];
            const float* xs = x + p * inner;
            float* ys = y + p * inner;
            if (act == Activation::None) {
                for (int64_t i = 0; i < inner; ++i) ys[i] = xs[i] * s + t;
            } else if (act == Activation::Relu) {
                for (int64_t i = 0; i < inner; ++i) ys[i] = std::max(xs[i] * s + t, 0.f);
            } else {
                for (int64_t i = 0; i < inner; ++i)
                    ys[i] = std::min(std::max(xs[i] * s + t, 0.f), 6.f);
            }
        }
    });
}

void binary_f32_cpu(ThreadPool& pool, BinaryOp op, const Shape& a_shape, const float* a,
                    const Shape& b_shape, const float* b, const Shape& y_shape, float* y) {
    const Loops l = broadcast_loops(a_shape, b_shape, y_shape);
    switch (op) {
        case BinaryOp::Add:
            return binary_loops<BinaryOp::Add>(pool, l, a, b, y);
        case BinaryOp::Sub:
            return binary_loops<BinaryOp::Sub>(pool, l, a, b, y);
        case BinaryOp::Mul:
            return binary_loops<BinaryOp::Mul>(pool, l, a, b, y);
        case BinaryOp::Div:
            return binary_loops<BinaryOp::Div>(pool, l, a, b, y);
    }
}

void permute_f32_cpu(ThreadPool& pool, const Shape& x_shape, const std::vector<int64_t>& perm,
                     const float* x, float* y) {
    const int r = int(x_shape.size());
    if (r > kMaxRank) throw Error(ErrorCode::Unsupported, "permute of rank > 8");
    int64_t xstride[kMaxRank];
    int64_t p = 1;
    for (int i = r - 1; i >= 0; --i) {
        xstride[i] = p;
        p *= x_shape[i];
    }
    // y's dimensions and the matching strides into x, dimensions of size 1 dropped.
    int64_t dims[kMaxRank], st[kMaxRank];
    int k = 0;
    for (int i = 0; i < r; ++i) {
        if (x_shape[perm[i]] == 1) continue;
        dims[k] = x_shape[perm[i]];
        st[k] = xstride[perm[i]];
        ++k;
    }
    if (k == 0) {
        if (p) y[0] = x[0];
        return;
    }
    const int last = k - 1;
    const int64_t n = dims[last], s = st[last];
    int64_t rows = 1;
    for (int i = 0; i < last; ++i) rows *= dims[i];
    rows_parallel(pool, rows, n, [&](int64_t r0, int64_t r1) {
        for (int64_t row = r0; row < r1; ++row) {
            int64_t off = 0, rest = row;
            for (int i = last - 1; i >= 0; --i) {
                off += (rest % dims[i]) * st[i];
                rest /= dims[i];
            }
            const float* src = x + off;
            float* dst = y + row * n;
            if (s == 1) {
                std::memcpy(dst, src, n * sizeof(float));
            } else {
                for (int64_t j = 0; j < n; ++j) dst[j] = src[j * s];
            }
        }
    });
}

void slice_f32_cpu(int64_t outer, int64_t d, int64_t inner, int64_t start, int64_t step,
                   int64_t count, const float* x, float* y) {
    for (int64_t o = 0; o < outer; ++o) {
        const float* src = x + (o * d + start) * inner;
        float* dst = y + o * count * inner;
        if (step == 1) {
            std::memcpy(dst, src, count * inner * sizeof(float));
        } else {
            for (int64_t j = 0; j < count; ++j)
                std::memcpy(dst + j * inner, src + j * step * inner, inner * sizeof(float));
        }
    }
}

void layer_norm_f32_cpu(ThreadPool& pool, int64_t outer, int64_t d, int64_t inner,
                        const float* gamma, const float* beta, float eps, const float* x,
                        float* y) {
    if (inner == 1) {
        // Each row of d values is contiguous: one pass for the mean, one for the variance.
        rows_parallel(pool, outer, d, [&](int64_t o0, int64_t o1) {
            for (int64_t o = o0; o < o1; ++o) {
                const float* xs = x + o * d;
                float* ys = y + o * d;
                const float mean = lane_sum(d, xs, [](float v) { return v; }) / float(d);
                const float var =
                    lane_sum(d, xs, [mean](float v) { return (v - mean) * (v - mean); });
                const float inv = 1.f / std::sqrt(var / float(d) + eps);
                for (int64_t j = 0; j < d; ++j) {
                    const float g = gamma ? gamma[j] : 1.f, b = beta ? beta[j] : 0.f;
                    ys[j] = (xs[j] - mean) * inv * g + b;
                }
            }
        });
        return;
    }
    // Strided over d: the statistics of a block of positions at once, accumulated row by row of
    // the d axis so the loops run along contiguous memory.
    constexpr int64_t kBlock = 256;
    const int64_t blocks = (inner + kBlock - 1) / kBlock;
    rows_parallel(pool, outer * blocks, kBlock * d, [&](int64_t t0, int64_t t1) {
        float mean[kBlock], inv[kBlock];
        for (int64_t t = t0; t < t1; ++t) {
            const int64_t o = t / blocks, i0 = (t % blocks) * kBlock;
            const int64_t n = std::min(kBlock, inner - i0);
            const float* xs = x + o * d * inner + i0;
            float* ys = y + o * d * inner + i0;
            for (int64_t i = 0; i < n; ++i) mean[i] = 0.f, inv[i] = 0.f;
            for (int64_t j = 0; j < d; ++j)
                for (int64_t i = 0; i < n; ++i) mean[i] += xs[j * inner + i];
            for (int64_t i = 0; i < n; ++i) mean[i] /= float(d);
            for (int64_t j = 0; j < d; ++j)
                for (int64_t i = 0; i < n; ++i) {
                    const float v = xs[j * inner + i] - mean[i];
                    inv[i] += v * v;
                }
            for (int64_t i = 0; i < n; ++i) inv[i] = 1.f / std::sqrt(inv[i] / float(d) + eps);
            for (int64_t j = 0; j < d; ++j) {
                const float g = gamma ? gamma[j] : 1.f, b = beta ? beta[j] : 0.f;
                for (int64_t i = 0; i < n; ++i)
                    ys[j * inner + i] = (xs[j * inner + i] - mean[i]) * inv[i] * g + b;
            }
        }
    });
}

void window_copy_f32_cpu(ThreadPool& pool, const WindowShape& s, bool reverse, const float* x,
                         float* y) {
    const int64_t hp = (s.h + s.wh - 1) / s.wh * s.wh, wp = (s.w + s.ww - 1) / s.ww * s.ww;
    const size_t bytes = size_t(s.c) * sizeof(float);
    // One task per row of windows of an image.
    rows_parallel(pool, s.n * (hp / s.wh), s.wh * wp * s.c, [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; ++t) {
            const int64_t img = t / (hp / s.wh), wy = t % (hp / s.wh);
            const float* xi = x + img * (reverse ? hp * wp : s.h * s.w) * s.c;
            float* yi = y + img * (reverse ? s.h * s.w : hp * wp) * s.c;
            for (int64_t wx = 0; wx < wp / s.ww; ++wx)
                for (int64_t iy = 0; iy < s.wh; ++iy)
                    for (int64_t ix = 0; ix < s.ww; ++ix) {
                        const int64_t token = ((wy * (wp / s.ww) + wx) * s.wh + iy) * s.ww + ix;
                        const int64_t my = (wy * s.wh + iy + s.sh) % hp;
                        const int64_t mx = (wx * s.ww + ix + s.sw) % wp;
                        const bool inside = my < s.h && mx < s.w;
                        if (reverse) {
                            if (inside)
                                std::memcpy(yi + (my * s.w + mx) * s.c, xi + token * s.c, bytes);
                        } else if (inside) {
                            std::memcpy(yi + token * s.c, xi + (my * s.w + mx) * s.c, bytes);
                        } else {
                            std::memset(yi + token * s.c, 0, bytes);
                        }
                    }
        }
    });
}

}  // namespace nse
