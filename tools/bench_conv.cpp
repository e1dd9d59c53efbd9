// nse_bench_conv: one convolution layer timed as the Conv2d layer runs it on the CPU path in use
// (NSE_CPU forces one): weights prepared once (direct path) or packed once (GEMM paths), then
// conv2d's own choice of kernel. For racing a change to a kernel, run two builds interleaved.
//   build/tools/nse_bench_conv [--threads N] [--runs K] [--cold-output] [--cold-weights]
//                              C,H,K,R,STRIDE,GROUPS ...
// --cold-output flushes the output's lines from the caches before each run, as a layer runs
// inside a network: its output's memory last touched an inference ago, its input and the
// scratch memory just used by the layers before. --cold-weights flushes the layer's packed or
// prepared weights too, as a network's other layers push them out of the caches.
// Default shapes: RegNetX-400MF's grouped 3x3 layers (groups of 16 channels).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "base/thread_pool.h"
#include "kernels/cpu/conv2d.h"
#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/direct_conv.h"
#include "kernels/cpu/packed_gemm.h"
#include "tools/cache_flush.h"

namespace {

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

// "C,H,K,R,STRIDE,GROUPS" -> a square layer with "same" padding; false if it is not one.
bool parse_shape(const char* text, nse::ConvShape& s) {
    long c, h, k, r, st, g;
    if (std::sscanf(text, "%ld,%ld,%ld,%ld,%ld,%ld", &c, &h, &k, &r, &st, &g) != 6 || c <= 0 ||
        h <= 0 || k <= 0 || r <= 0 || st <= 0 || g <= 0 || c % g != 0 || k % g != 0)
        return false;
    s = nse::ConvShape{};
    s.c = c, s.h = s.w = h, s.k = k, s.r = s.s = r, s.stride_h = s.stride_w = st;
    s.pad_h = s.pad_w = r / 2, s.groups = g;
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    int threads = 1, runs = 200;
    bool cold_output = false, cold_weights = false;
    std::vector<nse::ConvShape> shapes;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        nse::ConvShape s;
        if (a == "--cold-output") {
            cold_output = true;
        } else if (a == "--cold-weights") {
            cold_weights = true;
        } else if ((a == "--threads" || a == "--runs") && i + 1 < argc) {
            (a == "--threads" ? threads : runs) = std::atoi(argv[++i]);
        } else if (parse_shape(argv[i], s)) {
            shapes.push_back(s);
        } else {
            std::fprintf(stderr,
                         "usage: nse_bench_conv [--threads N] [--runs K] [--cold-output] "
                         "[--cold-weights] C,H,K,R,STRIDE,GROUPS ...\n");
            return 2;
        }
    }
    if (threads < 1 || runs < 1) {
        std::fprintf(stderr, "nse_bench_conv: --threads and --runs must be >= 1\n");
        return 2;
    }
    if (shapes.empty())
        for (const char* text :
             {"32,112,32,3,2,2", "64,56,64,3,2,4", "64,28,64,3,1,4", "160,28,160,3,2,10",
              "160,14,160,3,1,10", "400,14,400,3,2,25", "400,7,400,3,1,25"}) {
            nse::ConvShape s;
            parse_shape(text, s);
            shapes.push_back(s);
        }
    nse::ThreadPool pool(threads);
    std::printf("path %s, %d thread(s), median of %d runs\n", nse::cpu_path_name(nse::cpu_path()),
                threads, runs);
    std::printf("%5s %4s %5s %2s %2s %4s  %-7s %9s %7s\n", "C", "H", "K", "R", "s", "g", "kernel",
                "ms", "GF/s");
    for (const nse::ConvShape& s : shapes) {
        const size_t xn = size_t(s.c * s.h * s.w), yn = size_t(s.k * s.p() * s.q());
        std::vector<float> x(xn), w(size_t(s.k * s.c / s.groups * s.r * s.s)), b(size_t(s.k)),
            y(yn);
        for (size_t i = 0; i < x.size(); ++i) x[i] = float(i % 11) * 0.01f;
        for (size_t i = 0; i < w.size(); ++i) w[i] = float(i % 7) * 0.01f - 0.03f;
        const bool direct = nse::direct_conv_applies(s);
        std::vector<float> prepared, ws;
        std::vector<nse::PackedWeights> packed;
        if (direct) {
            prepared.resize(nse::direct_conv_weight_floats(s));
            nse::direct_conv_prepare_weights(s, w.data(), prepared.data());
            ws.resize(nse::direct_conv_workspace_floats(s));
        } else {
            if (nse::conv2d_uses_packed_gemm(s)) packed = nse::pack_conv_weights(s, w.data());
            ws.resize(nse::conv2d_workspace_floats(s, threads) + 1);
        }
        std::vector<double> t;
        for (int r = 0; r < runs + runs / 10; ++r) {
            if (cold_output) nse::bench::flush_from_caches(y.data(), y.size());
            if (cold_weights) {
                nse::bench::flush_from_caches(w.data(), w.size());
                if (!prepared.empty())
                    nse::bench::flush_from_caches(prepared.data(), prepared.size());
                for (const nse::PackedWeights& p : packed)
                    for (int64_t i = 0; i < p.panels(); ++i)
                        nse::bench::flush_from_caches(p.panel(i), size_t(p.panel_rows(i) * p.k()));
            }
            const auto t0 = std::chrono::steady_clock::now();
            if (direct)
                nse::direct_conv2d_f32_cpu(pool, s, x.data(), w.data(), b.data(),
                                           nse::Activation::Relu, y.data(), ws.data(),
                                           prepared.data());
            else
                nse::conv2d_f32_cpu(pool, s, x.data(), w.data(), b.data(), nse::Activation::Relu,
                                    y.data(), ws.data(), packed.empty() ? nullptr : packed.data());
            if (r >= runs / 10)  // the first tenth warms caches and the pool
                t.push_back(
                    std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                        .count());
        }
        const double ms = median(t);
        std::printf("%5ld %4ld %5ld %2ld %2ld %4ld  %-7s %9.4f %7.1f\n", long(s.c), long(s.h),
                    long(s.k), long(s.r), long(s.stride_h), long(s.groups),
                    direct ? "direct" : "gemm", ms, s.flops() * 1e-6 / ms);
    }
    return 0;
}
