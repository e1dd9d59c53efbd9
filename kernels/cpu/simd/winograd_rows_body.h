// The row (horizontal) transforms of Winograd F(4x4, 3x3) on the shared SIMD paths, kLanes tiles
// per vector, written against the vector interface of vec_<isa>.h (load_n, store_n, add, sub,
// mul, set1, deinterleave4, interleave4, shift_in; included as gemm_body.h is). A strip row holds
// its tiles' columns interleaved (tile tx covers columns 4 tx .. 4 tx + 5); deinterleave4 splits
// 4 kLanes columns by phase (column mod 4) so that each phase is one vector over kLanes tiles,
// the transform runs on whole vectors, and interleave4 puts the results back the same way. The
// arithmetic is winograd_rows.cpp's AVX-512 kernels' (and Tile<4>'s), operation for operation.
// Compiled as plain loops for the path, the stride-4 reads and writes ran one tile at a time.

namespace winograd_rows_detail {

// B^T d for the six phases of kLanes tiles (Tile<4>::input).
inline void input_tiles(const Vf d[6], Vf o[6]) {
    const Vf four = set1(4.f), five = set1(5.f), two = set1(2.f), minus_four = set1(-4.f);
    o[0] = add(sub(mul(four, d[0]), mul(five, d[2])), d[4]);
    o[1] = add(add(mul(minus_four, add(d[1], d[2])), d[3]), d[4]);
    o[2] = add(sub(mul(four, sub(d[1], d[2])), d[3]), d[4]);
    o[3] = add(sub(mul(two, sub(d[3], d[1])), d[2]), d[4]);
    o[4] = add(sub(mul(two, sub(d[1], d[3])), d[2]), d[4]);
    o[5] = add(sub(mul(four, d[1]), mul(five, d[3])), d[5]);
}

}  // namespace winograd_rows_detail

// A last vector of fewer than kLanes tiles reads and writes the strip past the row's 4 tw
// columns (winograd_rows.h: the caller's slack); only its v stores are partial.
void winograd_input_rows(int64_t tw, int64_t n, const float* t, float* v, int64_t vs) {
    using namespace winograd_rows_detail;
    for (int i = 0; i < 6; ++i) {
        const float* row = t + i * n;
        for (int64_t tx0 = 0; tx0 < tw; tx0 += kLanes) {
            // Phases 0-3 of kLanes tiles; 4 and 5 are phases 0 and 1 of the next tile.
            const float* c = row + 4 * tx0;
            Vf d[6], o[6];
            deinterleave4(c, d);
            d[4] = shift_in(d[0], c[4 * kLanes]);
            d[5] = shift_in(d[1], c[4 * kLanes + 1]);
            input_tiles(d, o);
            const int64_t tiles = std::min<int64_t>(kLanes, tw - tx0);
            for (int j = 0; j < 6; ++j) store_n(v + (i * 6 + j) * vs + tx0, o[j], tiles);
        }
    }
}

void winograd_output_rows(int64_t tw, const float* m, int64_t ms, float* t, int64_t n) {
    const Vf two = set1(2.f), four = set1(4.f), eight = set1(8.f);
    for (int i = 0; i < 6; ++i) {
        float* row = t + i * n;
        for (int64_t tx0 = 0; tx0 < tw; tx0 += kLanes) {
            const int64_t tiles = std::min<int64_t>(kLanes, tw - tx0);
            Vf s[6];
            for (int k = 0; k < 6; ++k) s[k] = load_n(m + (i * 6 + k) * ms + tx0, tiles);
            // A^T m (Tile<4>::output).
            const Vf a = add(s[1], s[2]), b = sub(s[1], s[2]);
            const Vf c = add(s[3], s[4]), d = sub(s[3], s[4]);
            const Vf o[4] = {add(add(s[0], a), c), add(b, mul(two, d)), add(a, mul(four, c)),
                             add(add(b, mul(eight, d)), s[5])};
            interleave4(o, row + 4 * tx0);
        }
    }
}
