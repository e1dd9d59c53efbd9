#include "kernels/reference/reference.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace nse::ref {

void conv2d(const ConvShape& sh, const float* x, const float* w, const float* b, Activation act,
            float* y) {
    const int64_t P = sh.p(), Q = sh.q(), cg = sh.c / sh.groups, kg = sh.k / sh.groups;
    for (int64_t n = 0; n < sh.n; ++n)
        for (int64_t k = 0; k < sh.k; ++k)
            for (int64_t p = 0; p < P; ++p)
                for (int64_t q = 0; q < Q; ++q) {
                    double acc = b ? b[k] : 0.0;
                    const int64_t g = k / kg;
                    for (int64_t c = 0; c < cg; ++c)
                        for (int64_t r = 0; r < sh.r; ++r)
                            for (int64_t s = 0; s < sh.s; ++s) {
                                const int64_t ih = p * sh.stride_h - sh.pad_h + r * sh.dil_h;
                                const int64_t iw = q * sh.stride_w - sh.pad_w + s * sh.dil_w;
                                if (ih < 0 || ih >= sh.h || iw < 0 || iw >= sh.w) continue;
                                acc +=
                                    double(x[((n * sh.c + g * cg + c) * sh.h + ih) * sh.w + iw]) *
                                    w[((k * cg + c) * sh.r + r) * sh.s + s];
                            }
                    y[((n * sh.k + k) * P + p) * Q + q] = activate(act, static_cast<float>(acc));
                }
}

void max_pool2d(const PoolShape& sh, const float* x, float* y) {
    for (int64_t pl = 0; pl < sh.n * sh.c; ++pl)
        for (int64_t p = 0; p < sh.p; ++p)
            for (int64_t q = 0; q < sh.q; ++q) {
                float m = -std::numeric_limits<float>::infinity();
                for (int64_t r = 0; r < sh.kh; ++r)
                    for (int64_t s = 0; s < sh.kw; ++s) {
                        const int64_t ih = p * sh.stride_h - sh.pad_h + r * sh.dil_h;
                        const int64_t iw = q * sh.stride_w - sh.pad_w + s * sh.dil_w;
                        if (ih >= 0 && ih < sh.h && iw >= 0 && iw < sh.w)
                            m = std::max(m, x[(pl * sh.h + ih) * sh.w + iw]);
                    }
                y[(pl * sh.p + p) * sh.q + q] = m;
            }
}

void avg_pool2d(const PoolShape& sh, const float* x, float* y) {
    for (int64_t pl = 0; pl < sh.n * sh.c; ++pl)
        for (int64_t p = 0; p < sh.p; ++p)
            for (int64_t q = 0; q < sh.q; ++q) {
                double sum = 0;
                int64_t inside = 0, padded = 0;
                for (int64_t r = 0; r < sh.kh; ++r)
                    for (int64_t s = 0; s < sh.kw; ++s) {
                        const int64_t ih = p * sh.stride_h - sh.pad_h + r;
                        const int64_t iw = q * sh.stride_w - sh.pad_w + s;
                        // Window cells in the padded input count for count_include_pad; cells
                        // past the padding (possible with ceil_mode) never count.
                        if (ih < sh.h + sh.pad_h && iw < sh.w + sh.pad_w) ++padded;
                        if (ih >= 0 && ih < sh.h && iw >= 0 && iw < sh.w) {
                            sum += x[(pl * sh.h + ih) * sh.w + iw];
                            ++inside;
                        }
                    }
                const int64_t count = sh.count_include_pad ? padded : inside;
                y[(pl * sh.p + p) * sh.q + q] = count ? static_cast<float>(sum / count) : 0.f;
            }
}

void adaptive_avg_pool2d(int64_t n, int64_t c, int64_t h, int64_t w, int64_t P, int64_t Q,
                         const float* x, float* y) {
    for (int64_t pl = 0; pl < n * c; ++pl)
        for (int64_t p = 0; p < P; ++p)
            for (int64_t q = 0; q < Q; ++q) {
                const int64_t hs = (p * h) / P, he = ((p + 1) * h + P - 1) / P;
                const int64_t ws = (q * w) / Q, we = ((q + 1) * w + Q - 1) / Q;
                double sum = 0;
                for (int64_t i = hs; i < he; ++i)
                    for (int64_t j = ws; j < we; ++j) sum += x[(pl * h + i) * w + j];
                y[(pl * P + p) * Q + q] = static_cast<float>(sum / ((he - hs) * (we - ws)));
            }
}

void linear(int64_t m, int64_t in, int64_t out, const float* x, const float* w, const float* b,
            Activation act, float* y) {
    for (int64_t i = 0; i < m; ++i)
        for (int64_t o = 0; o < out; ++o) {
            double acc = b ? b[o] : 0.0;
            for (int64_t j = 0; j < in; ++j) acc += double(x[i * in + j]) * w[o * in + j];
            y[i * out + o] = activate(act, static_cast<float>(acc));
        }
}

void softmax(int64_t outer, int64_t dim, int64_t inner, const float* x, float* y) {
    for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < inner; ++i) {
            double m = -INFINITY, sum = 0;
            for (int64_t d = 0; d < dim; ++d) m = std::max<double>(m, x[(o * dim + d) * inner + i]);
            for (int64_t d = 0; d < dim; ++d) sum += std::exp(x[(o * dim + d) * inner + i] - m);
            for (int64_t d = 0; d < dim; ++d)
                y[(o * dim + d) * inner + i] =
                    static_cast<float>(std::exp(x[(o * dim + d) * inner + i] - m) / sum);
        }
}

namespace {
double unary1(UnaryOp op, double x) {
    const double sig = 1.0 / (1.0 + std::exp(-x));
    const double hsig = std::min(std::max(x / 6.0 + 0.5, 0.0), 1.0);
    switch (op) {
        case UnaryOp::Sigmoid:
            return sig;
        case UnaryOp::Silu:
            return x * sig;
        case UnaryOp::Hardswish:
            return x * hsig;
        case UnaryOp::Hardsigmoid:
            return hsig;
        case UnaryOp::Gelu:
            return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
        case UnaryOp::Tanh:
            return std::tanh(x);
    }
    return x;
}
}  // namespace

void unary(int64_t n, UnaryOp op, const float* x, float* y) {
    for (int64_t i = 0; i < n; ++i) y[i] = float(unary1(op, x[i]));
}

void channel_affine(int64_t outer, int64_t c, int64_t inner, const float* scale, const float* shift,
                    Activation act, const float* x, float* y) {
    for (int64_t o = 0; o < outer; ++o)
        for (int64_t k = 0; k < c; ++k)
            for (int64_t i = 0; i < inner; ++i) {
                const int64_t at = (o * c + k) * inner + i;
                y[at] = activate(act, x[at] * scale[k] + shift[k]);
            }
}

void binary(BinaryOp op, const Shape& as, const float* a, const Shape& bs, const float* b,
            const Shape& ys, float* y) {
    const int64_t total = numel(ys);
    const size_t r = ys.size();
    std::vector<int64_t> idx(r);
    for (int64_t t = 0; t < total; ++t) {
        int64_t rest = t;
        for (size_t i = r; i-- > 0;) {
            idx[i] = rest % ys[i];
            rest /= ys[i];
        }
        auto offset = [&](const Shape& s) {
            int64_t off = 0;
            for (size_t i = 0; i < s.size(); ++i) {
                const int64_t d = s[i], j = idx[r - s.size() + i];
                off = off * d + (d == 1 ? 0 : j);
            }
            return off;
        };
        const float va = a[offset(as)], vb = b[offset(bs)];
        y[t] = op == BinaryOp::Add   ? va + vb
               : op == BinaryOp::Sub ? va - vb
               : op == BinaryOp::Mul ? va * vb
                                     : va / vb;
    }
}

void permute(const Shape& xs, const std::vector<int64_t>& perm, const float* x, float* y) {
    const size_t r = xs.size();
    Shape ys(r);
    for (size_t i = 0; i < r; ++i) ys[i] = xs[perm[i]];
    std::vector<int64_t> yi(r), xi(r);
    for (int64_t t = 0; t < numel(ys); ++t) {
        int64_t rest = t;
        for (size_t i = r; i-- > 0;) {
            yi[i] = rest % ys[i];
            rest /= ys[i];
        }
        for (size_t i = 0; i < r; ++i) xi[perm[i]] = yi[i];
        int64_t off = 0;
        for (size_t i = 0; i < r; ++i) off = off * xs[i] + xi[i];
        y[t] = x[off];
    }
}

void layer_norm(int64_t outer, int64_t d, int64_t inner, const float* gamma, const float* beta,
                float eps, const float* x, float* y) {
    for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < inner; ++i) {
            double mean = 0, var = 0;
            for (int64_t j = 0; j < d; ++j) mean += x[(o * d + j) * inner + i];
            mean /= double(d);
            for (int64_t j = 0; j < d; ++j) {
                const double v = x[(o * d + j) * inner + i] - mean;
                var += v * v;
            }
            const double inv = 1.0 / std::sqrt(var / double(d) + eps);
            for (int64_t j = 0; j < d; ++j) {
                const int64_t at = (o * d + j) * inner + i;
                y[at] =
                    float((x[at] - mean) * inv * (gamma ? gamma[j] : 1.f) + (beta ? beta[j] : 0.f));
            }
        }
}

void attention(int64_t batch, int64_t L, int64_t heads, int64_t d, int64_t window, float scale,
               const float* qkv, const float* bias, const float* mask, int64_t masks, float* out,
               const float* head_scale, bool normalize) {
    const int64_t E = heads * d, W = window > 0 ? window : L, windows = batch * (L / W);
    std::vector<double> p(W);
    for (int64_t w = 0; w < windows; ++w)
        for (int64_t h = 0; h < heads; ++h)
            for (int64_t i = 0; i < W; ++i) {
                const float* q = qkv + (w * W + i) * 3 * E + h * d;
                const auto norm = [&](const float* x) {
                    double n = 0;
                    for (int64_t c = 0; c < d; ++c) n += double(x[c]) * x[c];
                    return normalize ? std::max(std::sqrt(n), 1e-12) : 1.0;
                };
                double m = -INFINITY, sum = 0;
                for (int64_t j = 0; j < W; ++j) {
                    const float* k = qkv + (w * W + j) * 3 * E + E + h * d;
                    double s = 0;
                    for (int64_t c = 0; c < d; ++c) s += double(q[c]) * k[c];
                    p[j] = s / (norm(q) * norm(k)) * (head_scale ? head_scale[h] : scale);
                    if (bias) p[j] += bias[(h * W + i) * W + j];
                    if (mask) p[j] += mask[((w % (L / W)) % masks * W + i) * W + j];
                    m = std::max(m, p[j]);
                }
                for (int64_t j = 0; j < W; ++j) sum += (p[j] = std::exp(p[j] - m));
                for (int64_t c = 0; c < d; ++c) {
                    double o = 0;
                    for (int64_t j = 0; j < W; ++j)
                        o += p[j] * qkv[(w * W + j) * 3 * E + 2 * E + h * d + c];
                    out[(w * W + i) * E + h * d + c] = static_cast<float>(o / sum);
                }
            }
}

void window_partition(int64_t n, int64_t h, int64_t w, int64_t c, int64_t wh, int64_t ww,
                      int64_t sh, int64_t sw, const float* x, float* y) {
    const int64_t hp = (h + wh - 1) / wh * wh, wp = (w + ww - 1) / ww * ww;
    std::vector<float> padded(size_t(hp * wp * c)), rolled(padded.size());
    for (int64_t b = 0; b < n; ++b) {
        std::fill(padded.begin(), padded.end(), 0.f);
        for (int64_t i = 0; i < h; ++i)
            for (int64_t j = 0; j < w; ++j)
                for (int64_t k = 0; k < c; ++k)
                    padded[size_t((i * wp + j) * c + k)] = x[((b * h + i) * w + j) * c + k];
        // torch.roll(x, -s): out[i] = x[(i + s) mod size].
        for (int64_t i = 0; i < hp; ++i)
            for (int64_t j = 0; j < wp; ++j)
                for (int64_t k = 0; k < c; ++k)
                    rolled[size_t((i * wp + j) * c + k)] =
                        padded[size_t((((i + sh) % hp) * wp + (j + sw) % wp) * c + k)];
        // view(hp/wh, wh, wp/ww, ww, c).permute(0, 2, 1, 3, 4): windows, then rows in them.
        int64_t row = 0;
        for (int64_t a = 0; a < hp / wh; ++a)
            for (int64_t d = 0; d < wp / ww; ++d)
                for (int64_t i = 0; i < wh; ++i)
                    for (int64_t j = 0; j < ww; ++j, ++row)
                        for (int64_t k = 0; k < c; ++k)
                            y[(b * hp * wp + row) * c + k] =
                                rolled[size_t(((a * wh + i) * wp + d * ww + j) * c + k)];
    }
}

}  // namespace nse::ref
