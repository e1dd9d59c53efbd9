// nsengine check: a converted model against PyTorch's output for the reference input beside it,
// and every split of it against the whole run (the converter's acceptance test, as a command).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>

#include "engine/executor.h"
#include "engine/runtime.h"
#include "tools/cli_util.h"

namespace nse {

namespace {
std::vector<int64_t> top_indices(const Tensor& t, int k) {
    std::vector<int64_t> idx(t.numel());
    for (int64_t i = 0; i < t.numel(); ++i) idx[i] = i;
    k = int(std::min<int64_t>(k, t.numel()));
    std::partial_sort(idx.begin(), idx.begin() + k, idx.end(),
                      [&](int64_t a, int64_t b) { return t.data()[a] > t.data()[b]; });
    idx.resize(k);
    return idx;
}
}  // namespace

int cmd_check(int argc, char** argv) {
    cxxopts::Options opts("nsengine check",
                          "Check a converted model: its output for the reference input against "
                          "PyTorch's (<name>.ref.safetensors beside the model), and every split "
                          "of it against the whole run. Exit 0 if both hold, 1 if not.");
    add_model_options(opts);
    opts.add_options()("tolerance",
                       "largest max|diff| / max|ref| accepted (1e-4 up to ~50 layers; the zoo "
                       "uses 1e-3 for the deepest)",
                       cxxopts::value<double>()->default_value("1e-4"))(
        "cuts", "check this many cuts, evenly spaced, ends included (default: every cut)",
        cxxopts::value<int>())("h,help", "show this help");
    auto args = parse_args(opts, argc, argv);
    if (print_help(opts, args)) return 0;
    const double tol = args["tolerance"].as<double>();
    NSE_CHECK(tol > 0 && tol < 1, ErrorCode::InvalidArgument, "--tolerance must be in (0, 1)");
    const std::shared_ptr<ThreadPool> pool = thread_pool_arg(args);
    auto model = load_model_arg(args);
    const std::string path = reference_path(model_path_arg(args));
    Tensor input = make_input(*model, model_path_arg(args), "ref");
    SafeTensors ref = read_safetensors(path);
    auto it = ref.tensors.find("output");
    NSE_CHECK(it != ref.tensors.end(), ErrorCode::InvalidModel, path,
              " holds no reference output to compare with (an ONNX file converted where ONNX "
              "Runtime was not installed: see tools/convert_onnx.py --help)");
    const Tensor& expected = it->second;

    Runtime whole(model, pool);
    Tensor y = whole.run(input).clone();
    NSE_CHECK(y.shape() == expected.shape(), ErrorCode::InvalidModel, "output shape ",
              shape_str(y.shape()), " differs from the reference's ", shape_str(expected.shape()));
    double max_diff = 0, max_ref = 0;
    bool finite = true;
    for (int64_t i = 0; i < y.numel(); ++i) {
        finite = finite && std::isfinite(y.data()[i]);
        max_diff = std::max(max_diff, double(std::fabs(y.data()[i] - expected.data()[i])));
        max_ref = std::max(max_ref, double(std::fabs(expected.data()[i])));
    }
    const double rel = max_ref > 0 ? max_diff / max_ref : INFINITY;
    // Against the float64 answer where the converter wrote one: nsengine's error and PyTorch's
    // own float32 error side by side (a chaotic random network amplifies both alike).
    auto rel_to = [](const Tensor& a, const Tensor& exact) {
        double d = 0, m = 0;
        for (int64_t i = 0; i < a.numel(); ++i) {
            d = std::max(d, double(std::fabs(a.data()[i] - exact.data()[i])));
            m = std::max(m, double(std::fabs(exact.data()[i])));
        }
        return m > 0 ? d / m : INFINITY;
    };
    auto exact = ref.tensors.find("output_f64");
    const bool have_exact = exact != ref.tensors.end() && exact->second.shape() == y.shape();
    const double rel_exact = have_exact ? rel_to(y, exact->second) : NAN;
    const double torch_exact = have_exact ? rel_to(expected, exact->second) : NAN;
    const bool top5 = top_indices(y, 5) == top_indices(expected, 5);
    const bool top1 = top_indices(y, 1) == top_indices(expected, 1);

    Runtime split(model, pool);
    const int n = model->size();
    std::vector<int> cuts;
    if (args.count("cuts")) {
        const int c = args["cuts"].as<int>();
        NSE_CHECK(c >= 2, ErrorCode::InvalidArgument, "--cuts must be at least 2 (the ends)");
        for (int i = 0; i < c; ++i) cuts.push_back(int(int64_t(n) * i / (c - 1)));
        cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
    } else {
        for (int k = 0; k <= n; ++k) cuts.push_back(k);
    }
    int bad_cut = -1;
    for (int k : cuts) {
        if (bad_cut >= 0) break;
        std::vector<Tensor> mid;
        for (const Tensor& t : split.run(0, k, {input})) mid.push_back(t.clone());
        const std::vector<Tensor>& out = split.run(k, n, mid);
        if (out.size() != 1 || std::memcmp(out[0].data(), y.data(), y.bytes()) != 0) bad_cut = k;
    }
    const bool ok = finite && rel <= tol && top1 && bad_cut < 0;
    if (args.count("json")) {
        nlohmann::json j = {{"model", model->name()},
                            {"nodes", n},
                            {"max_rel_diff", rel},
                            {"tolerance", tol},
                            {"top1_same", top1},
                            {"top5_same", top5},
                            {"splits_equal", bad_cut < 0},
                            {"cuts_checked", cuts.size()},
                            {"ok", ok}};
        if (bad_cut >= 0) j["first_bad_cut"] = bad_cut;
        if (have_exact) {
            j["max_rel_diff_f64"] = rel_exact;
            j["torch_max_rel_diff_f64"] = torch_exact;
        }
        std::cout << j.dump(2) << '\n';
    } else {
        std::cout << model->name() << ": max|diff| / max|ref| = " << rel << " (tolerance " << tol
                  << "), top-1 " << (top1 ? "same" : "DIFFERENT") << ", top-5 "
                  << (top5 ? "same" : "different") << "; " << cuts.size() << " of " << n + 1
                  << " cuts: "
                  << (bad_cut < 0 ? "each split equals the whole run"
                                  : "cut " + std::to_string(bad_cut) + " differs")
                  << (ok ? "" : "  FAILED") << '\n';
        if (have_exact)
            std::cout << "  against the float64 answer: nsengine " << rel_exact << ", PyTorch "
                      << torch_exact << '\n';
    }
    return ok ? 0 : 1;
}

}  // namespace nse
