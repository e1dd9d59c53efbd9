// An own single-precision GEMM for the convolutions, on CPUs with AVX-512:
//   C[M, N] = act(A[M, K] B[K, N] + bias)
// A (the weights) is packed once, when the model is loaded, into panels of up to 12 rows stored
// k-major, so the micro-kernel reads it as one stream; B (the input of a 1x1 convolution or an
// im2col tile, row-major) is packed per call into 32-column panels, 256 values of K at a time (a
// panel fills two thirds of L1); a 12 x 32 block of C stays in 24 AVX-512 registers over the K
// loop, and the bias and activation are applied as the last block of K is stored. OpenBLAS (gemm.h)
// remains the path where the CPU lacks AVX-512.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/shapes.h"

namespace nse {

class PackedWeights {
  public:
    static constexpr int64_t kPanelRows = 12;

    PackedWeights() = default;
    // Packs A[M, K] (row stride lda). The last panel is zero-padded to 4, 8 or 12 rows.
    PackedWeights(int64_t m, int64_t k, const float* a, int64_t lda);

    int64_t m() const { return m_; }
    int64_t k() const { return k_; }
    bool empty() const { return m_ == 0; }
    int64_t panels() const { return (m_ + kPanelRows - 1) / kPanelRows; }
    // Rows the kernel runs for panel i (4, 8 or 12; those beyond m() are zero).
    int64_t panel_rows(int64_t i) const;
    // Panel i: element (row r, column kk) at panel(i)[kk * panel_rows(i) + r].
    const float* panel(int64_t i) const { return data_.data() + i * kPanelRows * k_; }

  private:
    int64_t m_ = 0, k_ = 0;
    std::vector<float> data_;
};

// Whether packed_gemm can run here (AVX-512F).
bool packed_gemm_available();

// C = act(A B + bias) with A packed; B is K x N with row stride ldb, C is M x N with row stride
// ldc; bias (M values) may be null. Split over the thread pool by column or row blocks.
void packed_gemm(const PackedWeights& a, int64_t n, const float* b, int64_t ldb, const float* bias,
                 Activation act, float* c, int64_t ldc);

}  // namespace nse
