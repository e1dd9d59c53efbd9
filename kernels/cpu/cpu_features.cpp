#include "kernels/cpu/cpu_features.h"

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <mutex>

#include "base/error.h"

namespace nse {

namespace {

constexpr CpuPath kAllPaths[] = {CpuPath::Avx512, CpuPath::Avx2, CpuPath::Neon, CpuPath::Generic};

std::string names_of(const std::vector<CpuPath>& paths) {
    std::string out;
    for (CpuPath p : paths) out += (out.empty() ? "" : ", ") + std::string(cpu_path_name(p));
    return out;
}

CpuPath checked(CpuPath path, const char* what) {
    NSE_CHECK(cpu_supports(path), ErrorCode::InvalidArgument,
              std::string(what) + cpu_path_name(path) +
                  ": this CPU cannot run that path (it can run " + names_of(supported_cpu_paths()) +
                  ")");
    return path;
}

// -1 until first use; then the CpuPath in use.
std::atomic<int> g_path{-1};
std::mutex g_init;

}  // namespace

const char* cpu_path_name(CpuPath path) {
    switch (path) {
        case CpuPath::Avx512:
            return "avx512";
        case CpuPath::Avx2:
            return "avx2";
        case CpuPath::Neon:
            return "neon";
        case CpuPath::Generic:
            break;
    }
    return "generic";
}

std::optional<CpuPath> parse_cpu_path(const std::string& name) {
    for (CpuPath p : kAllPaths)
        if (name == cpu_path_name(p)) return p;
    return std::nullopt;
}

bool cpu_supports(CpuPath path) {
    switch (path) {
        case CpuPath::Generic:
            return true;
#if defined(__x86_64__)
        case CpuPath::Avx512:
            return __builtin_cpu_supports("avx512f");
        case CpuPath::Avx2:
            return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#elif defined(__aarch64__)
        case CpuPath::Neon:
            return true;  // Advanced SIMD is mandatory in ARMv8-A
#endif
        default:
            return false;
    }
}

std::vector<CpuPath> supported_cpu_paths() {
    std::vector<CpuPath> out;
    for (CpuPath p : kAllPaths)
        if (cpu_supports(p)) out.push_back(p);
    return out;
}

CpuPath detected_cpu_path() { return supported_cpu_paths().front(); }

CpuPath cpu_path() {
    const int p = g_path.load(std::memory_order_acquire);
    if (p >= 0) return CpuPath(p);
    std::lock_guard<std::mutex> lock(g_init);
    if (g_path.load() < 0) {
        const char* env = std::getenv("NSE_CPU");
        CpuPath path = detected_cpu_path();
        if (env && *env) {
            const std::optional<CpuPath> named = parse_cpu_path(env);
            NSE_CHECK(named, ErrorCode::InvalidArgument, "NSE_CPU=", env,
                      ": unknown CPU path (expected avx512, avx2, neon or generic)");
            path = checked(*named, "NSE_CPU=");
        }
        g_path.store(int(path), std::memory_order_release);
    }
    return CpuPath(g_path.load());
}

void set_cpu_path(CpuPath path) {
    g_path.store(int(checked(path, "CPU path ")), std::memory_order_release);
}

std::string cpu_model_name() {
    std::ifstream in("/proc/cpuinfo");
    for (std::string line; std::getline(in, line);)
        if (line.rfind("model name", 0) == 0 && line.find(':') != std::string::npos)
            return line.substr(line.find(':') + 2);
#if defined(__aarch64__)
    return "aarch64";
#elif defined(__x86_64__)
    return "x86-64";
#else
    return "unknown";
#endif
}

}  // namespace nse
