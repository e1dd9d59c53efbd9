// An 8 x 8 transpose of floats in ymm registers, y[j][i] = x[i][j] (rows ldx and ldy floats
// apart): vec_avx2.h's tile and half of vec_avx512.h's 16 x 16 one. Included by those headers
// inside their own namespaces (nse::avx2, nse::avx512), after their target pragma, so each path
// keeps its own copy: one shared inline function compiled under two targets could let the linker
// run the AVX-512 build of it on an AVX2 CPU. Includes nothing itself.

inline void transpose8(const float* x, int64_t ldx, float* y, int64_t ldy) {
    __m256 r[8], t[8], s[8];
    for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(x + i * ldx);
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        s[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
        s[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
        s[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        s[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    for (int i = 0; i < 4; ++i) {
        _mm256_storeu_ps(y + i * ldy, _mm256_permute2f128_ps(s[i], s[i + 4], 0x20));
        _mm256_storeu_ps(y + (i + 4) * ldy, _mm256_permute2f128_ps(s[i], s[i + 4], 0x31));
    }
}
