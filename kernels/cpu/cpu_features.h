// Which family of CPU kernels this process runs: detected once from the CPU, or forced with the
// environment variable NSE_CPU=avx512|avx2|neon|generic (a path the CPU cannot run is refused).
//   avx512   x86-64 with AVX-512F: the tuned AVX-512 kernels
//   avx2     x86-64 with AVX2 + FMA: the shared SIMD kernels (kernels/cpu/simd/) at 8 lanes
//   neon     aarch64: the shared SIMD kernels at 4 lanes (Advanced SIMD is part of ARMv8-A)
//   generic  no own vector kernels: OpenBLAS and loops the compiler vectorises for the baseline
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace nse {

enum class CpuPath { Generic, Avx2, Avx512, Neon };

const char* cpu_path_name(CpuPath path);
// "avx512" -> CpuPath::Avx512 etc.; nothing for another name.
std::optional<CpuPath> parse_cpu_path(const std::string& name);

// The best path this CPU supports.
CpuPath detected_cpu_path();
// Whether this CPU can run `path` (generic always).
bool cpu_supports(CpuPath path);
// Every path this CPU can run, best first (the kernel tests sweep each).
std::vector<CpuPath> supported_cpu_paths();

// The path in use: NSE_CPU where set (checked on first use: throws Error(InvalidArgument) when
// unknown or not supported here), the detected one otherwise.
CpuPath cpu_path();
// Switches the path in use (tests; the CLI's checks). Throws where the CPU cannot run it.
// Kernels prepared under one path (packed weights) must not be run under another.
void set_cpu_path(CpuPath path);

// Sets a path for one scope and restores the previous one (tests).
class ScopedCpuPath {
  public:
    explicit ScopedCpuPath(CpuPath path) : saved_(cpu_path()) { set_cpu_path(path); }
    ~ScopedCpuPath() { set_cpu_path(saved_); }
    ScopedCpuPath(const ScopedCpuPath&) = delete;
    ScopedCpuPath& operator=(const ScopedCpuPath&) = delete;

  private:
    CpuPath saved_;
};

// The processor's name (/proc/cpuinfo's "model name", or the architecture where there is none).
std::string cpu_model_name();

// The mask of the first n of 16 vector lanes (n clamped to [0, 16]), for AVX-512's masked loads,
// stores and gathers (a __mmask16 is this integer).
inline uint16_t lane_mask(int64_t n) {
    return n >= 16 ? uint16_t(0xFFFF) : n <= 0 ? uint16_t(0) : uint16_t((1u << n) - 1);
}

}  // namespace nse
