// The transpose of a row-major matrix (linear.h's transpose_f32_cpu) on the shared SIMD paths,
// written against the vector interface of vec_<isa>.h (included as gemm_body.h is): blocks of 64
// x 64 (in L1 both ways), square tiles of kLanes x kLanes transposed in registers
// (`transpose_tile`), the ragged edges value by value. The scalar loop ran 3-4 ns a value on a
// Zen 3 core: a transformer's 3136 x 384 token matrix took 3.4-4.9 ms, as long as its GEMM.

void transpose_columns(int64_t rows, int64_t cols, const float* x, float* y, int64_t c0,
                       int64_t c1) {
    constexpr int64_t kBlock = 64;
    for (int64_t cb = c0; cb < c1; cb += kBlock) {
        const int64_t ce = std::min(c1, cb + kBlock);
        for (int64_t rb = 0; rb < rows; rb += kBlock) {
            const int64_t re = std::min(rows, rb + kBlock);
            int64_t r = rb;
            for (; r + kLanes <= re; r += kLanes) {
                int64_t c = cb;
                for (; c + kLanes <= ce; c += kLanes)
                    transpose_tile(x + r * cols + c, cols, y + c * rows + r, rows);
                for (; c < ce; ++c)
                    for (int64_t i = r; i < r + kLanes; ++i) y[c * rows + i] = x[i * cols + c];
            }
            for (; r < re; ++r)
                for (int64_t c = cb; c < ce; ++c) y[c * rows + r] = x[r * cols + c];
        }
    }
}
