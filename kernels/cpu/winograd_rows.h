// The row (horizontal) transforms of Winograd F(4x4, 3x3) in AVX-512, 16 tiles per vector. A
// strip row holds the tiles' columns interleaved (tile tx covers columns 4 tx .. 4 tx + 5), so
// the scalar transforms read and write it with stride 4 and left about half of ResNet-18's 64-
// channel Winograd layers to them; here the columns are split into phases with permutes, the
// transform runs on whole vectors, and the results are interleaved back the same way.
#pragma once

#include <cstdint>

namespace nse {

// Whether the functions below can run here (AVX-512F).
bool winograd_rows_avx512_available();

// v[(i * 6 + j) * vs + tx] = (t_i B)[4 tx + j] for rows i < 6 of t (row stride n = 4 tw + 2),
// tiles tx < tw: the input transform along a strip's rows.
void winograd_input_rows_avx512(int64_t tw, int64_t n, const float* t, float* v, int64_t vs);

// t[i * n + 4 tx + j] = (m_i A)[j] for j < 4, m_i[s] = m[(i * 6 + s) * ms + tx]: the output
// transform along rows, for rows i < 6 and tiles tx < tw.
void winograd_output_rows_avx512(int64_t tw, const float* m, int64_t ms, float* t, int64_t n);

}  // namespace nse
