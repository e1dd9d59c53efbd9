// nse_bench_pool: max or average pooling of one input timed on the CPU path in use (NSE_CPU
// forces one). For racing a change to a kernel, run two builds interleaved.
//   build/tools/nse_bench_pool [--threads N] [--runs K] [--cold-output] [--avg]
//                              C,H,K,STRIDE,PAD ...
// A square C x H x H input, K x K windows. --cold-output flushes the output's lines from the
// caches before each run (nse_bench_conv's flag); the input stays where the previous run left it,
// in the caches if it fits (kPoolStreamedInputBytes in kernels/cpu/pool.h is the size past which
// the SIMD paths read it one row at a time).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "base/thread_pool.h"
#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/pool.h"
#include "tools/cache_flush.h"

namespace {

// "C,H,K,STRIDE,PAD" -> a square pooling; false if it is not one.
bool parse_shape(const char* text, nse::PoolShape& s) {
    long c, h, k, st, pad;
    if (std::sscanf(text, "%ld,%ld,%ld,%ld,%ld", &c, &h, &k, &st, &pad) != 5 || c <= 0 || h <= 0 ||
        k <= 0 || st <= 0 || pad < 0 || 2 * pad > k || k > h + 2 * pad)
        return false;
    s = nse::PoolShape{};
    s.c = c, s.h = s.w = h, s.kh = s.kw = k, s.stride_h = s.stride_w = st, s.pad_h = s.pad_w = pad;
    s.p = s.q = nse::pool_out_size(h, k, st, pad, 1, false);
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    int threads = 1, runs = 100;
    bool cold_output = false, avg = false;
    std::vector<nse::PoolShape> shapes;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        nse::PoolShape s;
        if (a == "--cold-output") {
            cold_output = true;
        } else if (a == "--avg") {
            avg = true;
        } else if ((a == "--threads" || a == "--runs") && i + 1 < argc) {
            (a == "--threads" ? threads : runs) = std::atoi(argv[++i]);
        } else if (parse_shape(argv[i], s)) {
            shapes.push_back(s);
        } else {
            std::fprintf(stderr,
                         "usage: nse_bench_pool [--threads N] [--runs K] [--cold-output] [--avg] "
                         "C,H,K,STRIDE,PAD ...\n");
            return 2;
        }
    }
    if (threads < 1 || runs < 1 || shapes.empty()) {
        std::fprintf(stderr,
                     "nse_bench_pool: --threads and --runs must be >= 1, and give a shape "
                     "(VGG16's first pooling: 64,224,2,2,0)\n");
        return 2;
    }
    nse::ThreadPool pool(threads);
    std::printf("path %s, %d thread(s), %s pooling, median of %d runs\n",
                nse::cpu_path_name(nse::cpu_path()), threads, avg ? "average" : "max", runs);
    std::printf("%5s %4s %2s %2s %2s %9s %7s\n", "C", "H", "K", "s", "p", "ms", "GB/s");
    for (const nse::PoolShape& s : shapes) {
        std::vector<float> x(size_t(s.c * s.h * s.w)), y(size_t(s.c * s.p * s.q));
        for (size_t i = 0; i < x.size(); ++i) x[i] = float(i % 13) * 0.1f;
        std::vector<double> t;
        for (int r = 0; r < runs + runs / 10; ++r) {
            if (cold_output) nse::bench::flush_from_caches(y.data(), y.size());
            const auto t0 = std::chrono::steady_clock::now();
            if (avg)
                nse::avg_pool2d_f32_cpu(pool, s, x.data(), y.data());
            else
                nse::max_pool2d_f32_cpu(pool, s, x.data(), y.data());
            if (r >= runs / 10)  // the first tenth warms caches and the pool
                t.push_back(
                    std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                        .count());
        }
        std::sort(t.begin(), t.end());
        const double ms = t[t.size() / 2];
        std::printf("%5ld %4ld %2ld %2ld %2ld %9.4f %7.1f\n", long(s.c), long(s.h), long(s.kh),
                    long(s.stride_h), long(s.pad_h), ms,
                    double(x.size() + y.size()) * sizeof(float) * 1e-6 / ms);
    }
    return 0;
}
