// Element-wise functions of one value that are more than a clamp: sigmoid, SiLU, hardswish,
// hardsigmoid and GELU (the clamps relu and relu6 are Activation, fused into the kernels that
// produce a tensor). Vector versions on the AVX-512, AVX2 and NEON paths, a portable loop on the
// generic one (and for tanh everywhere).
#pragma once

#include <cstdint>

namespace nse {

class ThreadPool;

enum class UnaryOp { Sigmoid, Silu, Hardswish, Hardsigmoid, Gelu, Tanh };

// The op's graph name ("sigmoid", "silu", "hardswish", "hardsigmoid", "gelu", "tanh").
const char* unary_name(UnaryOp op);
// The op of a graph name; false if there is none.
bool unary_from_name(const char* name, UnaryOp* op);

// y[i] = op(x[i]) over the pool's threads (from kElementwiseParallelValues values on); x and y
// may be the same buffer. Within 2e-7 relative of the exact value plus 1e-7 absolute (sigmoid,
// SiLU and GELU evaluate exp and erfc by polynomials; hardswish and hardsigmoid are exact up to
// rounding). GELU is the exact form x/2 (1 + erf(x / sqrt 2)), as PyTorch's default. tanh runs
// as std::tanh on every path (MaxViT's classifier, its one user, has 512 values).
void unary_f32_cpu(ThreadPool& pool, int64_t n, UnaryOp op, const float* x, float* y);
// The portable path alone (std::exp, std::erfc), on the calling thread: what the generic path
// runs, exposed so its tests run on every CPU.
void unary_f32_portable(int64_t n, UnaryOp op, const float* x, float* y);

}  // namespace nse
