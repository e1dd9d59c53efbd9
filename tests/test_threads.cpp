// The thread count really bounds the threads that do work: ours and OpenBLAS's.
#include <cblas.h>
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include "base/error.h"
#include "base/thread_pool.h"

namespace nse::test {

namespace {
size_t distinct_workers(int64_t n) {
    std::mutex mu;
    std::set<std::thread::id> ids;
    parallel_for(n, [&](int64_t, int64_t) {
        std::lock_guard<std::mutex> lock(mu);
        ids.insert(std::this_thread::get_id());
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    });
    return ids.size();
}
}  // namespace

TEST(Threads, PoolAndOpenBlasFollowTheSetting) {
    for (int threads : {1, 2, 3}) {
        set_num_threads(threads);
        EXPECT_EQ(num_threads(), threads);
        EXPECT_EQ(openblas_get_num_threads(), 1);  // called inside our threads, never its own
        EXPECT_LE(distinct_workers(64), size_t(threads));
        EXPECT_EQ(distinct_workers(64), size_t(threads));  // and every thread takes part
    }
    set_num_threads(hardware_threads());
}

TEST(Threads, ParallelForCoversEveryIndexOnce) {
    set_num_threads(3);
    for (int64_t n : {0, 1, 2, 5, 1000}) {
        std::vector<int> hits(n, 0);
        parallel_for(n, [&](int64_t b, int64_t e) {
            for (int64_t i = b; i < e; ++i) ++hits[i];
        });
        for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[i], 1) << i;
    }
    set_num_threads(hardware_threads());
}

TEST(Threads, SmallJobsRunInlineBigOnesAreSplit) {
    set_num_threads(2);
    const auto caller = std::this_thread::get_id();
    for (double work : {0.0, kMinParallelWork / 2, kMinParallelWork * 4}) {
        std::vector<int> hits(100, 0);
        std::atomic<int> calls{0}, elsewhere{0};
        parallel_for(100, work, [&](int64_t b, int64_t e) {
            ++calls;
            if (std::this_thread::get_id() != caller) ++elsewhere;
            for (int64_t i = b; i < e; ++i) ++hits[i];
        });
        for (int h : hits) ASSERT_EQ(h, 1);
        if (work < kMinParallelWork) {
            EXPECT_EQ(calls.load(), 1) << "work " << work;
            EXPECT_EQ(elsewhere.load(), 0) << "work " << work;
        } else {
            EXPECT_EQ(calls.load(), 2) << "work " << work;
            EXPECT_EQ(elsewhere.load(), 1) << "work " << work;
        }
    }
    set_num_threads(hardware_threads());
}

// A pool's worker threads see that pool, not the process-wide one: kernels size per-range
// scratch by num_threads() inside their ranges (a server's worker pools differ from it).
TEST(Threads, WorkersOfAScopedPoolSeeTheirPool) {
    set_num_threads(1);
    ThreadPool pool(3);
    ScopedThreadPool scoped(&pool);
    std::mutex mu;
    std::set<int> seen;
    std::atomic<int> nested_elsewhere{0};
    parallel_for(3, [&](int64_t, int64_t) {
        const auto me = std::this_thread::get_id();
        {
            std::lock_guard<std::mutex> lock(mu);
            seen.insert(num_threads());
        }
        parallel_for(8, [&](int64_t, int64_t) {  // nested: inline on this thread
            if (std::this_thread::get_id() != me) ++nested_elsewhere;
        });
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    });
    EXPECT_EQ(seen, std::set<int>{3});
    EXPECT_EQ(nested_elsewhere.load(), 0);
    set_num_threads(hardware_threads());
}

TEST(Threads, AbsurdCountsAreErrors) {
    EXPECT_THROW(set_num_threads(0), Error);
    EXPECT_THROW(set_num_threads(-3), Error);
    EXPECT_THROW(set_num_threads(100000), Error);
}

}  // namespace nse::test
