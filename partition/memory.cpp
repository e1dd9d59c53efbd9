#include "partition/memory.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <memory>

#include "base/error.h"
#include "base/stats.h"
#include "base/thread_pool.h"

namespace nse {

namespace {

// Sums a share of the buffer with 16 independent accumulators (vectorised by the compiler), so the
// loads, not the additions, set the pace.
float sum_share(const float* p, int64_t n) {
    float acc[16] = {};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; ++j) acc[j] += p[i + j];
    float s = 0;
    for (; i < n; ++i) s += p[i];
    for (float a : acc) s += a;
    return s;
}

// Private caches are at most this big per core on the machines this runs on (2 MB of L2 on the
// Xeons here): a buffer of 4 MB a thread is read from the shared cache or beyond.
constexpr double kPrivateCacheMbPerThread = 4;

}  // namespace

MemoryFacts memory_facts(const std::vector<std::pair<double, double>>& read_gbps, int threads) {
    NSE_CHECK(read_gbps.size() >= 2, ErrorCode::InvalidArgument,
              "memory reads: need at least two sizes");
    for (size_t i = 0; i < read_gbps.size(); ++i) {
        const auto& [mb, gbps] = read_gbps[i];
        NSE_CHECK(std::isfinite(mb) && mb > 0 && std::isfinite(gbps) && gbps > 0,
                  ErrorCode::InvalidArgument, "memory reads must be positive (MB, GB/s) pairs");
        NSE_CHECK(i == 0 || mb > read_gbps[i - 1].first, ErrorCode::InvalidArgument,
                  "memory reads must be in ascending size");
    }
    MemoryFacts f;
    // Memory's rate: the median over the buffers of at least half the largest size (the last
    // three of a measured ladder), so one read disturbed by another tenant (a 512 MB read at
    // 10 GB/s between two at 20) does not halve it; nothing reads slower than memory, so such
    // a point is raised to it.
    std::vector<double> largest;
    for (const auto& [mb, gbps] : read_gbps)
        if (mb >= 0.5 * read_gbps.back().first) largest.push_back(gbps);
    f.memory_gbps = median(std::move(largest));
    f.read_gbps = read_gbps;
    for (auto& point : f.read_gbps) point.second = std::max(point.second, f.memory_gbps);
    for (const auto& [mb, gbps] : f.read_gbps)
        if (mb >= kPrivateCacheMbPerThread * threads) f.cache_gbps = std::max(f.cache_gbps, gbps);
    if (f.cache_gbps == 0) f.cache_gbps = f.memory_gbps;  // (a ladder that stops too soon)
    const double half_way = 0.5 * (f.cache_gbps + f.memory_gbps);
    f.cache_mb = read_gbps.front().first;
    for (const auto& [mb, gbps] : f.read_gbps)
        if (gbps >= half_way) f.cache_mb = mb;
    f.cold_mb = read_gbps.back().first;
    for (size_t i = f.read_gbps.size(); i-- > 0 && f.read_gbps[i].second <= 1.1 * f.memory_gbps;)
        f.cold_mb = f.read_gbps[i].first;
    return f;
}

double MemoryFacts::gbps_at(double mb) const {
    return read_gbps.empty() ? 0 : log_interpolate(read_gbps, mb);
}

MemoryFacts measure_memory(double max_mb) {
    using Clock = std::chrono::steady_clock;
    // On a small device the ladder stops at a quarter of the memory (at least 8 MB).
    const double ram_mb =
        double(sysconf(_SC_PHYS_PAGES)) * double(sysconf(_SC_PAGESIZE)) / (1 << 20);
    if (ram_mb > 0) max_mb = std::min(max_mb, std::max(8.0, ram_mb / 4));
    const int64_t max_floats = int64_t(max_mb * (1 << 20) / 4);
    std::unique_ptr<float[]> buf(new float[size_t(max_floats)]);
    const int threads = num_threads();
    // Written by the threads that will read it: each share's pages lie where its reader runs.
    parallel_for(threads, [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b)
            std::fill(buf.get() + max_floats * b / threads,
                      buf.get() + max_floats * (b + 1) / threads, 1.f);
    });
    std::vector<float> sums(size_t(threads), 0.f);  // one per thread: the reads are kept
    std::vector<std::pair<double, double>> ladder;
    for (int step = 0;; ++step) {
        const double mb = 0.125 * std::pow(2.0, step / 2.0);
        if (mb > max_mb * 1.001) break;
        const int64_t n = int64_t(mb * (1 << 20) / 4);
        // Small buffers are read several times over in one parallel section (at least 32 MB in
        // all), so the section's start and end cost nothing next to it.
        const int reps = int(std::max(1.0, 32 / mb));
        std::vector<double> gbps;
        double spent = 0;
        // The first pass brings the buffer into cache where it fits; it is not counted.
        // (0.1 s at least: three passes over 512 MB, 75 ms, caught another tenant's burst.)
        for (int pass = 0; pass < 4 || (spent < 0.1 && pass < 200); ++pass) {
            const auto t0 = Clock::now();
            parallel_for(threads, [&](int64_t b0, int64_t b1) {
                for (int64_t b = b0; b < b1; ++b) {
                    const int64_t lo = n * b / threads, hi = n * (b + 1) / threads;
                    for (int r = 0; r < reps; ++r)
                        sums[size_t(b)] += sum_share(buf.get() + lo, hi - lo);
                }
            });
            const double s = std::chrono::duration<double>(Clock::now() - t0).count();
            if (pass > 0) gbps.push_back(reps * mb * (1 << 20) / s / 1e9);
            spent += s;
        }
        ladder.emplace_back(std::round(mb * 1000) / 1000, median(std::move(gbps)));
    }
    volatile float keep = 0;
    for (float s : sums) keep = keep + s;
    return memory_facts(ladder, threads);
}

}  // namespace nse
