// CPU multi-head scaled dot-product attention on packed projections (nn.MultiheadAttention's
// self-attention after its in_proj):
//   qkv: [batch, L, 3E], E = heads d: each row holds q, then k, then v, each head's d values at
//        column h d of its third;
//   out: [batch, L, E], head h's output at columns h d ..;
//   out_i = softmax(scale q_i K^T + bias + mask) V per image, window and head (scale: 1/sqrt(d)
//   for a transformer; Swin V2: q and k normalised, a scale per head). Windows (Swin's): the L
//   tokens are L / window groups of `window` consecutive rows, each attending only within itself;
//   bias [heads, window, window] (a relative position bias) and mask [masks, window, window]
//   (window w takes mask w % masks: a shifted window's) are optional.
// One fused kernel per path (simd/attention_body.h): the scores of 8 queries at a time (4 on AVX2),
// never the L x L matrix. Split over the pool by image, window, head and block of queries; each
// result is the same however the work is split.
#pragma once

#include <cstddef>
#include <cstdint>

namespace nse {

class ThreadPool;

struct AttentionShape {
    int64_t batch = 1, tokens = 1, heads = 1, d = 1;
    int64_t window = 0;  // tokens per window; 0: all of them
    int64_t keys() const { return window > 0 ? window : tokens; }
    int64_t windows() const { return tokens / keys(); }
};

// Columns of the scores each head's scratch holds: `keys` rounded up to 16.
int64_t attention_padded_tokens(int64_t keys);
// Workspace floats attention_f32_cpu needs on `threads` threads.
size_t attention_workspace_floats(const AttentionShape& sh, int threads);

// What joins the plain product: scale (or head_scale[h] per head, where not null), the
// normalisation of q and k (Swin V2's cosine attention), bias and mask (may be null).
struct AttentionTerms {
    float scale = 1.f;
    const float* head_scale = nullptr;  // [heads]
    bool normalize = false;
    const float* bias = nullptr;  // [heads, keys, keys]
    const float* mask = nullptr;  // [masks, keys, keys]
    int64_t masks = 1;
};

void attention_f32_cpu(ThreadPool& pool, const AttentionShape& sh, const AttentionTerms& terms,
                       const float* qkv, float* out, float* workspace);

}  // namespace nse
