#include "base/thread_pool.h"

#include <cblas.h>

#include <memory>

#include "base/error.h"

namespace nse {

ThreadPool::ThreadPool(int threads) : threads_(threads) {
    NSE_ASSERT(threads >= 1);
    for (int i = 1; i < threads; ++i) workers_.emplace_back([this, i] { worker(i); });
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        stop_ = true;
    }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
}

static void run_part(const RangeFn& fn, int64_t n, int parts, int index) {
    int64_t begin = n * index / parts, end = n * (index + 1) / parts;
    if (begin < end) fn(begin, end);
}

void ThreadPool::parallel_for(int64_t n, RangeFn fn) {
    if (n <= 0) return;
    int parts = static_cast<int>(std::min<int64_t>(n, threads_));
    // A pool already busy (another thread's job, or a nested call) runs the work inline: every
    // kernel gives the same result however [0, n) is split, so this only costs speed.
    std::unique_lock<std::mutex> busy(busy_, std::try_to_lock);
    if (parts == 1 || !busy.owns_lock()) {
        fn(0, n);
        return;
    }
    {
        std::lock_guard<std::mutex> lock(mu_);
        job_ = &fn;
        job_n_ = n;
        job_parts_ = parts;
        pending_ = parts - 1;
        ++generation_;
    }
    wake_.notify_all();
    run_part(fn, n, parts, 0);
    std::unique_lock<std::mutex> lock(mu_);
    done_.wait(lock, [this] { return pending_ == 0; });
    job_ = nullptr;
}

void ThreadPool::worker(int index) {
    uint64_t seen = 0;
    for (;;) {
        const RangeFn* job;
        int64_t n;
        int parts;
        {
            std::unique_lock<std::mutex> lock(mu_);
            wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
            if (stop_) return;
            seen = generation_;
            job = job_;
            n = job_n_;
            parts = job_parts_;
        }
        if (index < parts) {
            run_part(*job, n, parts, index);
            std::lock_guard<std::mutex> lock(mu_);
            if (--pending_ == 0) done_.notify_one();
        }
    }
}

namespace {
thread_local ThreadPool* t_scoped_pool = nullptr;

std::unique_ptr<ThreadPool>& global_pool() {
    static std::unique_ptr<ThreadPool> pool;
    return pool;
}
}  // namespace

int hardware_threads() {
    unsigned n = std::thread::hardware_concurrency();
    return n ? static_cast<int>(n) : 1;
}

void set_num_threads(int threads) {
    NSE_CHECK(threads >= 1 && threads <= 1024, ErrorCode::InvalidArgument,
              "thread count must be between 1 and 1024, got ", threads);
    auto& pool = global_pool();
    if (!pool || pool->size() != threads) {
        pool.reset();
        pool = std::make_unique<ThreadPool>(threads);
    }
    openblas_set_num_threads(threads);
}

int num_threads() { return thread_pool().size(); }

ScopedThreadPool::ScopedThreadPool(ThreadPool* pool) : previous_(t_scoped_pool) {
    t_scoped_pool = pool;
}

ScopedThreadPool::~ScopedThreadPool() { t_scoped_pool = previous_; }

ThreadPool& thread_pool() {
    if (t_scoped_pool) return *t_scoped_pool;
    auto& pool = global_pool();
    if (!pool) set_num_threads(hardware_threads());
    return *pool;
}

void parallel_for(int64_t n, RangeFn fn) { thread_pool().parallel_for(n, fn); }

}  // namespace nse
