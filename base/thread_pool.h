// One persistent pool of worker threads shared by every CPU kernel, and the process-wide thread
// count. OpenBLAS is kept at one thread and called from the pool's threads, so `--threads N`
// really means N threads doing work.
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
    explicit ThreadPool(int threads);  // threads >= 1; the calling thread is one of them
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    int size() const { return threads_; }
    // Splits [0, n) into at most size() contiguous ranges and runs fn(begin, end) on each,
    // one range on the calling thread. Returns when all are done. Safe to call from several
    // threads: while the pool is busy, other callers run their whole range inline.
    void parallel_for(int64_t n, RangeFn fn);

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
};

// Makes `pool` the pool that kernels called from this thread use, until destroyed (a pool's own
// worker threads always use their pool). Servers give each inference worker its own pool this
// way, so concurrent requests never share one.
class ScopedThreadPool {
  public:
    explicit ScopedThreadPool(ThreadPool* pool);
    ~ScopedThreadPool();
    ScopedThreadPool(const ScopedThreadPool&) = delete;
    ScopedThreadPool& operator=(const ScopedThreadPool&) = delete;

  private:
    ThreadPool* previous_;
};

// Sets the number of threads used by nsengine kernels (>= 1); OpenBLAS stays at one.
void set_num_threads(int threads);
int num_threads();  // size of the pool this thread uses
// Threads the machine offers (at least 1).
int hardware_threads();
// The pool this thread uses: its ScopedThreadPool if any, else the process-wide pool sized by
// set_num_threads (default: hardware_threads()).
ThreadPool& thread_pool();
// Convenience: thread_pool().parallel_for(n, fn).
void parallel_for(int64_t n, RangeFn fn);
// Jobs smaller than this many FLOPs run inline: waking a pool thread costs more than they take
// (a few microseconds of work). Memory-bound loops count kFlopsPerElement per element touched.
constexpr double kMinParallelWork = 1e6;
constexpr double kFlopsPerElement = 16;
// parallel_for for a job of `work` units in total: inline below kMinParallelWork.
void parallel_for(int64_t n, double work, RangeFn fn);

}  // namespace nse
