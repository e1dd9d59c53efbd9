// Scaled dot-product attention of one head, written once against the vector interface
// (vec_*.h) and compiled per path by simd_*.cpp inside the path's namespace; the contract is
// attention.h's. For queries q0..q1 of one image and one head:
//
//   S = Q (scale K)^T   K scaled and transposed once into scratch (d rows of lp columns, the
//                       columns past L zero), so a block of R queries (kAttnRows) sweeps it as
//                       a GEMM would: R x NV vectors of accumulators, NV loads and R broadcasts
//                       per R NV FMAs
//   P = exp(S - max)    per row, exp by Cephes' degree-6 polynomial (exp_nonpositive)
//   O = (P V) / sum(P)  R x NV vectors of accumulators again, one broadcast of P per row
//
// Only a block of rows of S exists at a time (R lp floats): the L x L matrix is never stored.
// Additive terms (Swin's relative position bias and shifted-window mask, L x L each, row stride L)
// join the scores before the softmax. `normalize` (Swin V2's cosine attention): q and k divided by
// their L2 norms (at least 1e-12, as F.normalize) first; k's in the transposed copy, q's as a
// factor on its row of scores.

// Queries per register block and vectors of columns per tile: 8 x 2 with 32 registers (AVX-512,
// NEON; 16 accumulators), 4 x 2 with AVX2's 16. Eight queries share each load of K^T and V: at
// 4 x 4, a ViT-B head's V (197 rows of 64 values, 50 KB) came from L2 at 4 lines per 16 FMAs,
// and the kernel ran at 55 GFLOP/s.
constexpr int kAttnRows = kLanes == 8 ? 4 : kLanes == 1 ? 4 : 8;
constexpr int kAttnVectors = kLanes == 1 ? 4 : 2;
static_assert(kAttnRows <= kAttentionMaxRows, "attention.cpp sizes each head's scratch for this");

// exp(x) for x <= 0 (a softmax's shifted scores), relative error ~1e-7; exactly 0 below -80,
// where it is under 2e-35 and adds nothing to a sum that holds a 1. (Left at exp(-87), Swin's
// masked scores, -100 and below, gave probabilities near float's smallest normal; their
// products with the values were subnormal, and the shifted windows' attention took 4x as long.)
inline Vf exp_nonpositive(Vf in) {
    return keep_at_least(in, -80.f, exp_in_range(max(in, set1(-80.f))));
}

// s[r][j .. j + NV kLanes) = q_r . kt[:, j ..] for R query rows.
template <int R, int NV>
inline void attention_scores(int64_t d, const float* q, int64_t ldq, const float* kt, int64_t lp,
                             int64_t j, float* s) {
    Vf acc[R][NV];
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < NV; ++t) acc[r][t] = zero();
    for (int64_t kk = 0; kk < d; ++kk) {
        Vf b[NV];
        for (int t = 0; t < NV; ++t) b[t] = load(kt + kk * lp + j + t * kLanes);
        for (int r = 0; r < R; ++r) {
            const Vf a = set1(q[r * ldq + kk]);
            for (int t = 0; t < NV; ++t) acc[r][t] = fma(a, b[t], acc[r][t]);
        }
    }
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < NV; ++t) store(s + r * lp + j + t * kLanes, acc[r][t]);
}

// o_r[c .. c + cols) = inv_r sum_j p_r[j] v[j][c ..] for R rows; (NV - 1) kLanes < cols <=
// NV kLanes (fewer than NV kLanes: the last vector masked, the last columns of a head).
template <int R, int NV>
inline void attention_values(int64_t L, const float* p, int64_t lp, const float* v, int64_t ldv,
                             int64_t c, int64_t cols, const float* inv, float* o, int64_t ldo) {
    Vf acc[R][NV];
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < NV; ++t) acc[r][t] = zero();
    const int64_t last = cols - (NV - 1) * kLanes;  // values in the last vector
    const bool full = last == kLanes;
    for (int64_t j = 0; j < L; ++j) {
        const float* vj = v + j * ldv + c;
        Vf b[NV];
        for (int t = 0; t + 1 < NV; ++t) b[t] = load(vj + t * kLanes);
        b[NV - 1] = full ? load(vj + (NV - 1) * kLanes) : load_n(vj + (NV - 1) * kLanes, last);
        for (int r = 0; r < R; ++r) {
            const Vf a = set1(p[r * lp + j]);
            for (int t = 0; t < NV; ++t) acc[r][t] = fma(a, b[t], acc[r][t]);
        }
    }
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < NV; ++t)
            store_n(o + r * ldo + c + t * kLanes, mul(acc[r][t], set1(inv[r])), cols - t * kLanes);
}

// s[0 .. L) += t[0 .. L) (t may be null).
inline void add_row(int64_t L, const float* t, float* s) {
    if (!t) return;
    int64_t j = 0;
    for (; j + kLanes <= L; j += kLanes) store(s + j, add(load(s + j), load(t + j)));
    if (j < L) store_n(s + j, add(load_n(s + j, L - j), load_n(t + j, L - j)), L - j);
}

// The sum of squares of x[0 .. n).
inline float squares(int64_t n, const float* x) {
    Vf acc = zero();
    int64_t i = 0;
    for (; i + kLanes <= n; i += kLanes) acc = fma(load(x + i), load(x + i), acc);
    if (i < n) acc = fma(load_n(x + i, n - i), load_n(x + i, n - i), acc);
    float lane[kLanes], total = 0.f;
    lanes(acc, lane);
    for (int l = 0; l < kLanes; ++l) total += lane[l];
    return total;
}

// One block of R query rows: scores, additive terms (rows of bias and mask, or null), softmax,
// values.
template <int R>
inline void attention_block(int64_t L, int64_t d, const float* q, const float* kt, int64_t lp,
                            const float* v, int64_t ld, const float* bias, const float* mask,
                            bool normalize, float* s, float* o, int64_t ldo) {
    constexpr int64_t kWide = kAttnVectors * kLanes;
    int64_t j = 0;
    for (; j + kWide <= lp; j += kWide) attention_scores<R, kAttnVectors>(d, q, ld, kt, lp, j, s);
    for (; j < lp; j += kLanes) attention_scores<R, 1>(d, q, ld, kt, lp, j, s);
    float inv[R];
    for (int r = 0; r < R; ++r) {
        float* sr = s + r * lp;
        if (normalize) {
            const Vf f = set1(1.f / std::max(std::sqrt(squares(d, q + r * ld)), 1e-12f));
            for (int64_t jj = 0; jj < lp; jj += kLanes) store(sr + jj, mul(load(sr + jj), f));
        }
        add_row(L, bias ? bias + r * L : nullptr, sr);
        add_row(L, mask ? mask + r * L : nullptr, sr);
        for (int64_t jj = L; jj < lp; ++jj) sr[jj] = -INFINITY;  // padding: exp gives ~0
        Vf m = set1(-INFINITY);
        for (int64_t jj = 0; jj < lp; jj += kLanes) m = max(m, load(sr + jj));
        float lane[kLanes], top = -INFINITY;
        lanes(m, lane);
        for (int l = 0; l < kLanes; ++l) top = lane[l] > top ? lane[l] : top;
        const Vf shift = set1(top);
        Vf sum = zero();
        for (int64_t jj = 0; jj < lp; jj += kLanes) {
            const Vf e = exp_nonpositive(sub(load(sr + jj), shift));
            store(sr + jj, e);
            sum = add(sum, e);
        }
        lanes(sum, lane);
        float total = 0.f;
        for (int l = 0; l < kLanes; ++l) total += lane[l];
        inv[r] = 1.f / total;
    }
    // The value columns in tiles of kAttnVectors vectors, then one tile of what is left (its
    // last vector masked): a head of 32 or 80 values sweeps P once or twice, not per vector.
    int64_t c = 0;
    for (; c + kWide <= d; c += kWide)
        attention_values<R, kAttnVectors>(L, s, lp, v, ld, c, kWide, inv, o, ldo);
    const int64_t rest = d - c;
    switch ((rest + kLanes - 1) / kLanes) {
        case 0:
            break;
        case 1:
            attention_values<R, 1>(L, s, lp, v, ld, c, rest, inv, o, ldo);
            break;
        case 2:
            attention_values<R, 2>(L, s, lp, v, ld, c, rest, inv, o, ldo);
            break;
        default:
            attention_values<R, 3>(L, s, lp, v, ld, c, rest, inv, o, ldo);
            break;
    }
}

void attention_head(int64_t L, int64_t d, const float* q, const float* k, const float* v,
                    int64_t ld, float scale, const float* bias, const float* mask, bool normalize,
                    float* o, int64_t ldo, int64_t q0, int64_t q1, int64_t lp, float* scratch) {
    float* kt = scratch;
    float* s = scratch + d * lp;
    float* factor = s;  // the keys' factors, before s is used
    for (int64_t j = 0; j < L; ++j)
        factor[j] = normalize ? scale / std::max(std::sqrt(squares(d, k + j * ld)), 1e-12f) : scale;
    // Key by key (each read once, in order; the d rows written stay in L1 meanwhile).
    for (int64_t j = 0; j < L; ++j) {
        const float* kj = k + j * ld;
        const float f = factor[j];
        for (int64_t kk = 0; kk < d; ++kk) kt[kk * lp + j] = kj[kk] * f;
    }
    for (int64_t kk = 0; kk < d; ++kk)
        for (int64_t j = L; j < lp; ++j) kt[kk * lp + j] = 0.f;
    int64_t r = q0;
    const auto rows = [&](const float* t) { return t ? t + r * L : nullptr; };
    for (; r + kAttnRows <= q1; r += kAttnRows)
        attention_block<kAttnRows>(L, d, q + r * ld, kt, lp, v, ld, rows(bias), rows(mask),
                                   normalize, s, o + r * ldo, ldo);
    switch (q1 - r) {
#define NSE_ATTENTION_TAIL(R)                                                                      \
    case R:                                                                                        \
        if constexpr (R < kAttnRows)                                                               \
            attention_block<R>(L, d, q + r * ld, kt, lp, v, ld, rows(bias), rows(mask), normalize, \
                               s, o + r * ldo, ldo);                                               \
        return;
        NSE_ATTENTION_TAIL(7)
        NSE_ATTENTION_TAIL(6)
        NSE_ATTENTION_TAIL(5)
        NSE_ATTENTION_TAIL(4)
        NSE_ATTENTION_TAIL(3)
        NSE_ATTENTION_TAIL(2)
        NSE_ATTENTION_TAIL(1)
#undef NSE_ATTENTION_TAIL
        default:
            return;
    }
}
