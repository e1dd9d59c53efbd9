// nse_bench_gemm: the packed GEMM's two weight layouts (kernels/cpu/packed_gemm.h) raced on the
// same products, interleaved round by round, on the CPU path in use (NSE_CPU forces one):
//   build/tools/nse_bench_gemm [--threads N] [--rounds R] [--runs K] [M,N,K ...]
// Default products: MobileNetV2's 7x7 and 14x14 1x1 layers and ResNet's 7x7 im2col product.
// Prints per product the row layout's median ms and GFLOP/s, the column layout's, the median
// over rounds of columns / rows, and which layout packed_layout_for picks.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "base/thread_pool.h"
#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/packed_gemm.h"

namespace {

using nse::PackedWeights;
using Layout = PackedWeights::Layout;

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

struct Product {
    int64_t m, n, k;
};

}  // namespace

int main(int argc, char** argv) {
    int threads = 1, rounds = 7, runs = 20;
    std::vector<Product> products;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&] {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "nse_bench_gemm: %s needs a value\n", a.c_str());
                std::exit(2);
            }
            return std::atoi(argv[++i]);
        };
        Product p{};
        if (a == "--threads")
            threads = value();
        else if (a == "--rounds")
            rounds = value();
        else if (a == "--runs")
            runs = value();
        else if (std::sscanf(a.c_str(), "%ld,%ld,%ld", &p.m, &p.n, &p.k) == 3 && p.m > 0 &&
                 p.n > 0 && p.k > 0)
            products.push_back(p);
        else {
            std::fprintf(
                stderr,
                "usage: nse_bench_gemm [--threads N] [--rounds R] [--runs K] [M,N,K ...]\n");
            return 2;
        }
    }
    if (threads < 1 || rounds < 1 || runs < 1) {
        std::fprintf(stderr, "nse_bench_gemm: --threads, --rounds and --runs must be >= 1\n");
        return 2;
    }
    if (!nse::packed_gemm_available()) {
        std::fprintf(stderr, "nse_bench_gemm: the packed GEMM needs a SIMD path, not generic\n");
        return 2;
    }
    if (products.empty())
        products = {{160, 49, 960},  {320, 49, 960}, {960, 49, 160}, {1280, 49, 320},
                    {512, 49, 4608}, {96, 196, 576}, {576, 196, 96}, {256, 196, 2304}};
    nse::ThreadPool pool(threads);
    std::printf("path %s, %d thread(s), %d rounds of %d runs per layout (median ms)\n",
                nse::cpu_path_name(nse::cpu_path()), threads, rounds, runs);
    std::printf("%6s %5s %5s  %9s %7s  %9s %7s  %9s  %s\n", "M", "N", "K", "rows ms", "GF/s",
                "cols ms", "GF/s", "cols/rows", "chosen");
    for (const Product& p : products) {
        std::vector<float> a(size_t(p.m * p.k)), b(size_t(p.k * p.n)), c(size_t(p.m * p.n)),
            bias(size_t(p.m), 0.1f);
        for (size_t i = 0; i < a.size(); ++i) a[i] = float(i % 7) * 0.01f;
        for (size_t i = 0; i < b.size(); ++i) b[i] = float(i % 5) * 0.01f;
        const PackedWeights rows(p.m, p.k, a.data(), p.k, Layout::Rows);
        const PackedWeights cols(p.m, p.k, a.data(), p.k, Layout::Columns);
        std::vector<float> ws(nse::packed_gemm_workspace_floats(Layout::Columns, p.n, p.k) + 1);
        auto time = [&](const PackedWeights& w) {
            std::vector<double> t;
            for (int r = 0; r < runs; ++r) {
                const auto s = std::chrono::steady_clock::now();
                nse::packed_gemm(pool, w, p.n, b.data(), p.n, bias.data(), nse::Activation::Relu6,
                                 c.data(), p.n, ws.data());
                t.push_back(
                    std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - s)
                        .count());
            }
            return median(t);
        };
        time(rows);  // (warm: the first product timed in a process ran up to 1.3x slower)
        time(cols);
        std::vector<double> tr, tc, ratio;
        for (int r = 0; r < rounds; ++r) {
            tr.push_back(time(rows));
            tc.push_back(time(cols));
            ratio.push_back(tc.back() / tr.back());
        }
        const double gflop = 2e-6 * double(p.m) * double(p.n) * double(p.k);
        const bool chosen_cols = nse::packed_layout_for(p.m, p.n, p.k) == Layout::Columns;
        std::printf("%6ld %5ld %5ld  %9.4f %7.1f  %9.4f %7.1f  %9.3f  %s\n", long(p.m), long(p.n),
                    long(p.k), median(tr), gflop / median(tr), median(tc), gflop / median(tc),
                    median(ratio), chosen_cols ? "columns" : "rows");
    }
    return 0;
}
