// What the CPU the process runs on can do, asked once (kernels pick their AVX-512 paths by it).
#pragma once

namespace nse {

inline bool cpu_has_avx512() {
#if defined(__x86_64__)
    static const bool yes = __builtin_cpu_supports("avx512f");
    return yes;
#else
    return false;
#endif
}

}  // namespace nse
