// e^x on the shared SIMD paths, written against the vector interface of vec_<isa>.h (included as
// gemm_body.h is): shared by the softmax of attention_body.h and the sigmoid, SiLU and GELU of
// unary_body.h.

// e^x for x in [-87, 88] (its callers clamp): 2^n e^r with n = round(x / ln 2), ln 2 in two
// parts so r = x - n ln 2 is exact, Cephes' degree-6 polynomial for e^r, and 2^n built in the
// exponent field (a normal float for these n). Relative error ~1e-7.
inline Vf exp_in_range(Vf x) {
    const Vf n = round_nearest(mul(x, set1(1.44269504088896341f)));
    Vf r = fma(n, set1(-0.693359375f), x);
    r = fma(n, set1(2.12194440e-4f), r);
    Vf p = set1(1.9875691500e-4f);
    p = fma(p, r, set1(1.3981999507e-3f));
    p = fma(p, r, set1(8.3334519073e-3f));
    p = fma(p, r, set1(4.1665795894e-2f));
    p = fma(p, r, set1(1.6666665459e-1f));
    p = fma(p, r, set1(5.0000001201e-1f));
    p = fma(p, mul(r, r), add(r, set1(1.f)));
    return mul(p, pow2i(n));
}

// e^-x for sigmoid's denominator, as smooth_avx512.h's exp_neg_for_sigmoid16: 2^t for t = -x
// log2 e clamped to [-126, 126] (2^n built in the exponent field), a degree-5 polynomial for
// 2^(t - round t); relative error ~1e-7 plus |t| 2^-25 ln 2 from rounding t, negligible in
// sigmoid's value.
inline Vf exp_neg_for_sigmoid(Vf x) {
    const Vf t = min(max(mul(x, set1(-1.44269504088896341f)), set1(-126.f)), set1(126.f));
    const Vf n = round_nearest(t);
    const Vf f = sub(t, n);
    Vf p = set1(1.326472731307149e-3f);
    p = fma(p, f, set1(9.671512991189957e-3f));
    p = fma(p, f, set1(5.550733581185341e-2f));
    p = fma(p, f, set1(2.4022242426872253e-1f));
    p = fma(p, f, set1(6.931470036506653e-1f));
    p = fma(p, f, set1(1.f));
    return mul(p, pow2i(n));
}
