#include "partition/memory.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>

#include "base/error.h"
#include "base/stats.h"

namespace nse {

namespace {

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

}  // namespace nse
