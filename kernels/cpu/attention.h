// CPU multi-head scaled dot-product attention on packed projections (nn.MultiheadAttention's
// self-attention after its in_proj):
//   qkv: [batch, L, 3E], E = heads d: each row holds q, then k, then v, each head's d values at
//        column h d of its third;
//   out: [batch, L, E], head h's output at columns h d ..;
//   out_i = softmax(scale q_i K^T) V per image and head (scale: 1/sqrt(d) for a transformer).
// One fused kernel per path (simd/attention_body.h): the scores of 4 queries at a time, never
// the L x L matrix. Split over the pool by image, head and block of queries; each result is
// the same however the work is split.
#pragma once

#include <cstddef>
#include <cstdint>

namespace nse {

class ThreadPool;

// Columns of the scores each head's scratch holds: L rounded up to 16.
int64_t attention_padded_tokens(int64_t L);
// Workspace floats attention_f32_cpu needs on `threads` threads.
size_t attention_workspace_floats(int64_t L, int64_t d, int threads);

void attention_f32_cpu(ThreadPool& pool, int64_t batch, int64_t L, int64_t heads, int64_t d,
                       float scale, const float* qkv, float* out, float* workspace);

}  // namespace nse
