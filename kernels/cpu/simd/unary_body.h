// The smooth unary ops (unary.h: sigmoid, SiLU, hardswish, hardsigmoid, GELU) on the shared SIMD
// paths, written against the vector interface of vec_<isa>.h (included as gemm_body.h is): the
// same polynomials as the AVX-512 forms (smooth_avx512.h), an exact division where AVX-512 takes
// a reciprocal estimate and a Newton step. Without them AVX2 and NEON ran std::exp per value:
// EfficientNet-B0's 49 SiLU layers took 54 of its 96 ms on a Zen 3 core.

namespace unary_detail {

// e^v for v clamped to [-87, 88] (exp_body.h).
inline Vf exp_clamped(Vf v) { return exp_in_range(min(max(v, set1(-87.f)), set1(88.f))); }

inline Vf sigmoid(Vf x) {
    const Vf one = set1(1.f);
    return div(one, add(one, exp_neg_for_sigmoid(x)));
}

inline Vf hardsigmoid(Vf x) {
    return min(max(fma(x, set1(1.f / 6.f), set1(0.5f)), zero()), set1(1.f));
}

// GELU through erfc (as gelu16): erfc(z) for z = |x| / sqrt 2 by t exp(-z^2 + P(t)), t = 1 / (1 +
// z/2); then x (1 - erfc/2) for x >= 0 and x erfc/2 below.
inline Vf gelu(Vf x) {
    const Vf one = set1(1.f), half = set1(0.5f);
    const Vf z = mul(max(x, sub(zero(), x)), set1(0.70710678118654752f));
    const Vf t = div(one, fma(half, z, one));
    static const float c[] = {0.17087277f,  -0.82215223f, 1.48851587f, -1.13520398f, 0.27886807f,
                              -0.18628806f, 0.09678418f,  0.37409196f, 1.00002368f,  -1.26551223f};
    Vf p = set1(c[0]);
    for (int i = 1; i < 10; ++i) p = fma(p, t, set1(c[i]));
    const Vf he = mul(half, mul(t, exp_clamped(sub(p, mul(z, z)))));  // erfc(z) / 2
    // he below zero, 1 - he from zero on
    return mul(x, add(he, keep_at_least(x, 0.f, sub(one, add(he, he)))));
}

template <UnaryOp kOp>
inline Vf apply(Vf x) {
    if constexpr (kOp == UnaryOp::Sigmoid) return sigmoid(x);
    if constexpr (kOp == UnaryOp::Silu) return mul(x, sigmoid(x));
    if constexpr (kOp == UnaryOp::Hardswish) return mul(x, hardsigmoid(x));
    if constexpr (kOp == UnaryOp::Hardsigmoid) return hardsigmoid(x);
    if constexpr (kOp == UnaryOp::Gelu) return gelu(x);
    return x;
}

template <UnaryOp kOp>
inline void run(int64_t n, const float* x, float* y) {
    int64_t i = 0;
    for (; i + kLanes <= n; i += kLanes) store(y + i, apply<kOp>(load(x + i)));
    if (i < n) store_n(y + i, apply<kOp>(load_n(x + i, n - i)), n - i);
}

}  // namespace unary_detail

bool unary(UnaryOp op, int64_t n, const float* x, float* y) {
    using namespace unary_detail;
    switch (op) {
        case UnaryOp::Sigmoid:
            return run<UnaryOp::Sigmoid>(n, x, y), true;
        case UnaryOp::Silu:
            return run<UnaryOp::Silu>(n, x, y), true;
        case UnaryOp::Hardswish:
            return run<UnaryOp::Hardswish>(n, x, y), true;
        case UnaryOp::Hardsigmoid:
            return run<UnaryOp::Hardsigmoid>(n, x, y), true;
        case UnaryOp::Gelu:
            return run<UnaryOp::Gelu>(n, x, y), true;
        case UnaryOp::Tanh:  // std::tanh (unary.h)
            break;
    }
    return false;
}
