// The row (horizontal) transforms of Winograd F(4x4, 3x3) in vector registers: AVX-512 here, 16
// tiles per vector; AVX2 and NEON in the shared body simd/winograd_rows_body.h, 8 and 4. A strip
// row holds the tiles' columns interleaved (tile tx covers columns 4 tx .. 4 tx + 5), so the
// scalar transforms read and write it with stride 4 and left about half of ResNet-18's 64-
// channel Winograd layers to them; here the columns are split into phases, the transform runs on
// whole vectors, and the results are interleaved back the same way.
#pragma once

#include <cstdint>

namespace nse {

// The input and output row transforms below on the path in use (cpu_path()): false, having done
// nothing, where it has no vector kernel for them (generic). AVX2's and NEON's take whole vectors
// of tiles: they read up to kWinogradRowSlack floats past the strip's last row (values never
// used), and the output transform writes a row's last vector whole, past its 4 tw columns into
// the next row's (which it writes afterwards) or, after the last row, into the slack.
constexpr int64_t kWinogradRowSlack = 64;
bool winograd_input_rows_simd(int64_t tw, int64_t n, const float* t, float* v, int64_t vs);
bool winograd_output_rows_simd(int64_t tw, const float* m, int64_t ms, float* t, int64_t n);

// v[(i * 6 + j) * vs + tx] = (t_i B)[4 tx + j] for rows i < 6 of t (row stride n = 4 tw + 2),
// tiles tx < tw: the input transform along a strip's rows.
void winograd_input_rows_avx512(int64_t tw, int64_t n, const float* t, float* v, int64_t vs);

// t[i * n + 4 tx + j] = (m_i A)[j] for j < 4, m_i[s] = m[(i * 6 + s) * ms + tx]: the output
// transform along rows, for rows i < 6 and tiles tx < tw.
void winograd_output_rows_avx512(int64_t tw, const float* m, int64_t ms, float* t, int64_t n);

}  // namespace nse
