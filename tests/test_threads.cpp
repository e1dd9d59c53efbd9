// Thread pools are passed, not ambient: a pool's count really bounds the threads that do work
// (ours and OpenBLAS's), and runtimes with different pools share a process honestly.
#include <cblas.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include "base/error.h"
#include "base/thread_pool.h"
#include "engine/runtime.h"
#include "tests/model_builder.h"

namespace nse::test {

namespace {
size_t distinct_workers(ThreadPool& pool, int64_t n) {
    std::mutex mu;
    std::set<std::thread::id> ids;
    pool.parallel_for(n, [&](int64_t, int64_t) {
        std::lock_guard<std::mutex> lock(mu);
        ids.insert(std::this_thread::get_id());
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    });
    return ids.size();
}
}  // namespace

TEST(Threads, PoolAndOpenBlasFollowTheCount) {
    for (int threads : {1, 2, 3}) {
        ThreadPool pool(threads);
        EXPECT_EQ(pool.size(), threads);
        EXPECT_EQ(openblas_get_num_threads(), 1);  // called inside our threads, never its own
        EXPECT_LE(distinct_workers(pool, 64), size_t(threads));
        EXPECT_EQ(distinct_workers(pool, 64), size_t(threads));  // and every thread takes part
    }
}

TEST(Threads, ParallelForCoversEveryIndexOnce) {
    ThreadPool pool(3);
    for (int64_t n : {0, 1, 2, 5, 1000}) {
        std::vector<int> hits(n, 0);
        pool.parallel_for(n, [&](int64_t b, int64_t e) {
            for (int64_t i = b; i < e; ++i) ++hits[i];
        });
        for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[i], 1) << i;
    }
}

TEST(Threads, SmallJobsRunInlineBigOnesAreSplit) {
    ThreadPool pool(2);
    const auto caller = std::this_thread::get_id();
    for (double work : {0.0, kMinParallelWork / 2, kMinParallelWork * 4}) {
        std::vector<int> hits(100, 0);
        std::atomic<int> calls{0}, elsewhere{0};
        pool.parallel_for(100, work, [&](int64_t b, int64_t e) {
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
}

// A nested parallel_for on a busy pool (a kernel called inside another's range, as Winograd's
// products call the packed GEMM) runs inline on the calling thread.
TEST(Threads, NestedCallsRunInline) {
    ThreadPool pool(3);
    std::atomic<int> nested_elsewhere{0};
    pool.parallel_for(3, [&](int64_t, int64_t) {
        const auto me = std::this_thread::get_id();
        pool.parallel_for(8, [&](int64_t, int64_t) {
            if (std::this_thread::get_id() != me) ++nested_elsewhere;
        });
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    });
    EXPECT_EQ(nested_elsewhere.load(), 0);
}

TEST(Threads, AbsurdCountsAreErrors) {
    EXPECT_THROW(checked_thread_count(0), Error);
    EXPECT_THROW(checked_thread_count(-3), Error);
    EXPECT_THROW(checked_thread_count(100000), Error);
    EXPECT_EQ(checked_thread_count(7), 7);
}

// Two runtimes of one model, on pools of 1 and 2 threads, run at once in one process: each gives
// the result of a runtime of its thread count run alone, and each split its work on its own pool
// only (the 1-thread pool never wakes a worker; the 2-thread pool splits the convolutions' work).
TEST(Threads, RuntimesWithTheirOwnPoolsRunConcurrently) {
    ModelBuilder b({1, 32, 40, 40});  // two 3x3 convolutions of ~30 MFLOP each: split over a pool
    b.node("c1", "conv2d", {"input"}, {{"padding", 1}, {"activation", "relu"}}, {"w1", "b1"})
        .weight("w1", {32, 32, 3, 3})
        .weight("b1", {32})
        .node("c2", "conv2d", {"c1"}, {{"padding", 1}}, {"w2", "b2"})
        .weight("w2", {32, 32, 3, 3}, -0.3f)
        .weight("b2", {32})
        .output("c2");
    auto m = b.load("threads_pair.safetensors");
    const Tensor x = filled({1, 32, 40, 40}, -1.f, 0.02f);
    auto one = std::make_shared<ThreadPool>(1), two = std::make_shared<ThreadPool>(2);
    // What each gives run alone, on a pool of its size (the same bits run after run).
    const Tensor want1 = Runtime(m, std::make_shared<ThreadPool>(1)).run(x).clone();
    const Tensor want2 = Runtime(m, std::make_shared<ThreadPool>(2)).run(x).clone();
    const uint64_t one_before = one->jobs_split(), two_before = two->jobs_split();
    auto loop = [&](std::shared_ptr<ThreadPool> pool, const Tensor& want) {
        Runtime rt(m, pool);
        int wrong = 0;
        for (int i = 0; i < 30; ++i) {
            const Tensor& y = rt.run(x);
            if (y.shape() != want.shape() || std::memcmp(y.data(), want.data(), want.bytes()))
                ++wrong;
        }
        return wrong;
    };
    auto a = std::async(std::launch::async, loop, one, std::cref(want1));
    auto c = std::async(std::launch::async, loop, two, std::cref(want2));
    EXPECT_EQ(a.get(), 0) << "1-thread runtime: results differ from a runtime run alone";
    EXPECT_EQ(c.get(), 0) << "2-thread runtime: results differ from a runtime run alone";
    EXPECT_EQ(one->jobs_split(), one_before);        // one thread: everything inline
    EXPECT_GE(two->jobs_split(), two_before + 30u);  // at least a split per run
}

}  // namespace nse::test
