// Plain C++ loops compiled once per x86 vector width, picked by the CPU path in use
// (cpu_features.h), so that NSE_CPU=avx2 or generic really runs the AVX2 or baseline code on an
// AVX-512 machine (GCC's target_clones picks by the CPU alone and cannot be forced):
//
//   NSE_ALWAYS_INLINE void axpy_body(int64_t n, float a, const float* x, float* y) { ... }
//   NSE_ISA_CLONES(void, axpy, (int64_t n, float a, const float* x, float* y), (n, a, x, y))
//
// defines axpy_v4 (x86-64-v4: AVX-512), axpy_v3 (x86-64-v3: AVX2 + FMA) and axpy, which calls
// the one for cpu_path() (the body itself, compiled for the baseline, on the generic path). The
// body is inlined into each and vectorised for that target. On other architectures axpy is the
// body (aarch64's baseline has NEON, which the compiler vectorises for). `ret` may carry
// `static` for class members.
#pragma once

#include "kernels/cpu/cpu_features.h"

#define NSE_ALWAYS_INLINE __attribute__((always_inline)) inline

#if defined(__x86_64__)
#define NSE_ISA_CLONES(ret, name, params, args)                                                 \
    __attribute__((target("arch=x86-64-v4"))) ret name##_v4 params { return name##_body args; } \
    __attribute__((target("arch=x86-64-v3"))) ret name##_v3 params { return name##_body args; } \
    ret name params {                                                                           \
        switch (::nse::cpu_path()) {                                                            \
            case ::nse::CpuPath::Avx512:                                                        \
                return name##_v4 args;                                                          \
            case ::nse::CpuPath::Avx2:                                                          \
                return name##_v3 args;                                                          \
            default:                                                                            \
                return name##_body args;                                                        \
        }                                                                                       \
    }
#else
#define NSE_ISA_CLONES(ret, name, params, args) \
    ret name params { return name##_body args; }
#endif
