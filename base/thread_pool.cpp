#include "base/thread_pool.h"

#include <cblas.h>

#include <chrono>
#include <memory>

#include "base/error.h"

namespace nse {

ThreadPool::ThreadPool(int threads) : threads_(threads) {
    NSE_ASSERT(threads >= 1);
    // OpenBLAS runs single-threaded inside our pools' threads (kernels/cpu/gemm.h says why).
    openblas_set_num_threads(1);
    for (int i = 0; i < threads; ++i) slots_.push_back(std::make_unique<Slot>());
    for (int i = 1; i < threads; ++i) workers_.emplace_back([this, i] { worker(i); });
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        stop_.store(true);
    }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
}

namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

// How long a thread spins before it sleeps: long enough to bridge the gap between two layers
// (microseconds), short enough that on a busy machine (other processes' threads wanting the
// cores) spinning does not starve the thread being waited for. Measured in time, not PAUSE
// instructions, whose cost differs 10x between CPU generations.
constexpr auto kSpinTime = std::chrono::microseconds(100);

// Calls `done()` until it returns true or kSpinTime passes; returns its last answer. Yields
// between bursts: when the scheduler has put the thread we wait for on our own CPU (it does,
// after a futex wake-up), spinning alone would keep it from running (measured: LeNet took
// 1.9 ms instead of 0.04 in such runs).
template <typename Done>
bool spin_until(Done done) {
    const auto until = std::chrono::steady_clock::now() + kSpinTime;
    for (;;) {
        for (int i = 0; i < 64; ++i) {
            if (done()) return true;
            cpu_relax();
        }
        if (std::chrono::steady_clock::now() >= until) return done();
        std::this_thread::yield();
    }
}

}  // namespace

void ThreadPool::parallel_for(int64_t n, RangeFn fn) {
    if (n <= 0) return;
    const int parts = static_cast<int>(std::min<int64_t>(n, threads_));
    // A pool already busy (another thread's job, or a nested call) runs the work inline: every
    // kernel gives the same result however [0, n) is split, so this only costs speed.
    std::unique_lock<std::mutex> busy(busy_, std::try_to_lock);
    if (parts == 1 || !busy.owns_lock()) {
        fn(0, n);
        return;
    }
    jobs_split_.fetch_add(1, std::memory_order_relaxed);
    pending_.store(parts - 1, std::memory_order_relaxed);
    for (int i = 1; i < parts; ++i) {
        Slot& slot = *slots_[i];
        slot.fn = &fn;
        slot.begin = n * i / parts;
        slot.end = n * (i + 1) / parts;
        slot.go.fetch_add(1, std::memory_order_release);
    }
    { std::lock_guard<std::mutex> lock(mu_); }  // a worker about to sleep sees `go` or is woken
    wake_.notify_all();
    if (const int64_t end = n / parts; end > 0) fn(0, end);
    if (spin_until([&] { return pending_.load(std::memory_order_acquire) == 0; })) return;
    std::unique_lock<std::mutex> lock(mu_);
    done_.wait(lock, [&] { return pending_.load(std::memory_order_acquire) == 0; });
}

void ThreadPool::worker(int index) {
    Slot& slot = *slots_[index];
    uint64_t seen = 0;
    for (;;) {
        spin_until([&] { return stop_.load() || slot.go.load(std::memory_order_acquire) != seen; });
        uint64_t go = slot.go.load(std::memory_order_acquire);
        if (go == seen) {
            std::unique_lock<std::mutex> lock(mu_);
            wake_.wait(lock, [&] {
                return stop_.load() || slot.go.load(std::memory_order_acquire) != seen;
            });
            go = slot.go.load(std::memory_order_acquire);
        }
        if (stop_.load()) return;
        seen = go;
        if (slot.begin < slot.end) (*slot.fn)(slot.begin, slot.end);
        if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
            std::lock_guard<std::mutex> lock(mu_);  // the caller may be asleep on done_
            done_.notify_one();
        }
    }
}

void ThreadPool::parallel_for(int64_t n, double work, RangeFn fn) {
    if (n <= 0) return;
    if (work < kMinParallelWork) {
        fn(0, n);
        return;
    }
    parallel_for(n, fn);
}

int hardware_threads() {
    unsigned n = std::thread::hardware_concurrency();
    return n ? static_cast<int>(n) : 1;
}

int checked_thread_count(int threads, const char* what) {
    NSE_CHECK(threads >= 1 && threads <= 1024, ErrorCode::InvalidArgument, what,
              " must be between 1 and 1024, got ", threads);
    return threads;
}

}  // namespace nse
