#include "lab/memory_ladder.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <memory>

#include "base/stats.h"

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

}  // namespace

MemoryFacts measure_memory(ThreadPool& pool, double max_mb) {
    using Clock = std::chrono::steady_clock;
    // On a small device the ladder stops at a quarter of the memory (at least 8 MB).
    const double ram_mb =
        double(sysconf(_SC_PHYS_PAGES)) * double(sysconf(_SC_PAGESIZE)) / (1 << 20);
    if (ram_mb > 0) max_mb = std::min(max_mb, std::max(8.0, ram_mb / 4));
    const int64_t max_floats = int64_t(max_mb * (1 << 20) / 4);
    std::unique_ptr<float[]> buf(new float[size_t(max_floats)]);
    const int threads = pool.size();
    // Written by the threads that will read it: each share's pages lie where its reader runs.
    pool.parallel_for(threads, [&](int64_t b0, int64_t b1) {
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
            pool.parallel_for(threads, [&](int64_t b0, int64_t b1) {
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
