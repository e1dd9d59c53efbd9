// A persistent pool of worker threads. There is no process-wide pool: whoever runs kernels (a
// Runtime, the deployment lab, a cloud worker) owns or is handed a pool and passes it down, so
// runtimes with different thread counts share a process honestly. OpenBLAS is kept at one thread
// and called from the pools' threads, so `--threads N` really means N threads doing work.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace nse {

// A non-owning reference to a callable taking (begin, end): unlike std::function it never
// allocates, which keeps kernels allocation-free on the inference path.
class RangeFn {
  public:
    template <typename F>
    RangeFn(const F& f)  // NOLINT: implicit on purpose, wraps any lambda
        : obj_(&f),
          call_([](const void* o, int64_t b, int64_t e) { (*static_cast<const F*>(o))(b, e); }) {}
    void operator()(int64_t begin, int64_t end) const { call_(obj_, begin, end); }

  private:
    const void* obj_;
    void (*call_)(const void*, int64_t, int64_t);
};

class ThreadPool {
  public:
    // threads >= 1; the calling thread is one of them. Sets OpenBLAS to one thread.
    explicit ThreadPool(int threads);
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    int size() const { return threads_; }
    // Splits [0, n) into at most size() contiguous ranges and runs fn(begin, end) on each,
    // one range on the calling thread. Returns when all are done. Safe to call from several
    // threads: while the pool is busy, other callers run their whole range inline.
    void parallel_for(int64_t n, RangeFn fn);
    // The same for a job of `work` units in total: inline below kMinParallelWork.
    void parallel_for(int64_t n, double work, RangeFn fn);
    // Calls of parallel_for that woke this pool's workers (for tests).
    uint64_t jobs_split() const { return jobs_split_.load(std::memory_order_relaxed); }

  private:
    void worker(int index);

    int threads_;
    std::vector<std::thread> workers_;
    // Each worker has its own slot: the caller fills it and bumps `go`; the worker spins on it
    // briefly (a network's layers come microseconds apart) before sleeping on wake_. Workers
    // only ever read a slot that was handed to them.
    struct alignas(64) Slot {
        std::atomic<uint64_t> go{0};
        const RangeFn* fn = nullptr;
        int64_t begin = 0, end = 0;
    };
    std::vector<std::unique_ptr<Slot>> slots_;
    std::mutex mu_, busy_;
    std::condition_variable wake_, done_;
    std::atomic<int> pending_{0};
    std::atomic<bool> stop_{false};
    std::atomic<uint64_t> jobs_split_{0};
};

// Threads the machine offers (at least 1).
int hardware_threads();
// Checks a user-given thread count (1..1024); throws Error(InvalidArgument) naming `what`.
int checked_thread_count(int threads, const char* what = "thread count");
// Jobs smaller than this many FLOPs run inline: waking a pool thread costs more than they take
// (a few microseconds of work). Memory-bound loops count kFlopsPerElement per element touched.
constexpr double kMinParallelWork = 1e6;
constexpr double kFlopsPerElement = 16;

}  // namespace nse
