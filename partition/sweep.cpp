#include "partition/sweep.h"

#include <algorithm>

#include "kernels/cpu/direct_conv.h"
#include "kernels/cpu/winograd.h"

namespace nse {

Tensor random_tensor(const Shape& shape, std::mt19937& rng) {
    Tensor t = Tensor::zeros(shape);
    std::uniform_real_distribution<float> d(-0.1f, 0.1f);
    for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = d(rng);
    return t;
}

std::shared_ptr<const Model> build(const Config& c, std::mt19937& rng) {
    SafeTensors file;
    std::vector<std::string> names;
    for (size_t i = 0; i < c.params.size(); ++i) {
        names.push_back("p" + std::to_string(i));
        file.tensors[names.back()] = random_tensor(c.params[i], rng);
    }
    std::vector<std::string> inputs(c.inputs, "input");
    nlohmann::json graph = {{"input", {{"name", "input"}, {"shape", c.input}}},
                            {"nodes",
                             {{{"name", "x"},
                               {"op", c.op},
                               {"inputs", inputs},
                               {"attrs", c.attrs},
                               {"params", names}}}},
                            {"outputs", {"x"}}};
    file.metadata = {
        {"nsengine.format", "1"}, {"nsengine.model", "deploy"}, {"nsengine.graph", graph.dump()}};
    return Model::from_safetensors(std::move(file), "deploy: " + c.desc);
}

namespace {
template <typename T>
T pick(const std::vector<T>& v, std::mt19937& rng) {
    return v[rng() % v.size()];
}
// A convolution with ReLU: c -> k channels on an h x h map, r x r, "same" padding.
Config conv_config(const std::string& kind, int64_t c, int64_t k, int64_t h, int64_t r,
                   int64_t stride, int64_t groups = 1) {
    const std::string rr = std::to_string(r) + "x" + std::to_string(r);
    Config cfg{kind,
               "conv2d",
               "conv" + rr + " s" + std::to_string(stride) + " k" + std::to_string(k) + " c" +
                   std::to_string(c) + " " + std::to_string(h) + "x" + std::to_string(h),
               {1, c, h, h}};
    cfg.attrs = {
        {"stride", stride}, {"padding", r / 2}, {"groups", groups}, {"activation", "relu"}};
    cfg.params = {{k, c / groups, r, r}, {k}};
    return cfg;
}
}  // namespace

std::vector<Config> make_configs(bool quick, uint32_t seed) {
    std::mt19937 rng(seed);
    const std::vector<int64_t> channels = {3,   8,   16,  24,  32,  48,  64, 96,
                                           128, 160, 192, 256, 320, 384, 512};
    const std::vector<int64_t> sizes = {7, 10, 14, 20, 28, 40, 56, 80, 112, 160, 224};
    std::vector<Config> out;
    auto count = [&](int n) { return quick ? std::max(2, n / 5) : 2 * n; };
    auto desc = [](const std::string& what, int64_t c, int64_t h) {
        return what + " c" + std::to_string(c) + " " + std::to_string(h) + "x" + std::to_string(h);
    };

    // General convolutions: 3x3 mostly, 5x5, 7x7, 11x11 and strided 1x1 (a residual shortcut);
    // half of them with as many or twice as many output channels as input ones, as in most
    // networks, the others with any pair.
    for (int made = 0; made < count(150);) {
        const int64_t c = pick(channels, rng), h = pick(sizes, rng);
        const int64_t k = rng() % 2
                              ? pick(channels, rng)
                              : std::min<int64_t>(512, c * pick(std::vector<int64_t>{1, 2}, rng));
        const int64_t r = pick(std::vector<int64_t>{1, 3, 3, 3, 3, 5, 7, 11}, rng);
        const int64_t stride = r == 11  ? 4
                               : r == 1 ? 2
                                        : pick(std::vector<int64_t>{1, 1, 1, 2}, rng);
        const int64_t groups = (c % 2 == 0 && k % 2 == 0 && rng() % 8 == 0) ? 2 : 1;
        ConvShape cs{1, c, h, h, k, r, r, stride, stride, r / 2, r / 2, 1, 1, groups};
        if (c > 64 && h > 112) continue;  // keep each layer under ~4 GFLOP and 30 MB
        if (cs.p() < 1 || cs.flops() > 4e9 || cs.flops() < 2e5) continue;
        out.push_back(conv_config("conv", c, k, h, r, stride, groups));
        ++made;
    }
    for (int made = 0; made < count(60);) {  // 3x3 stride-1 convolutions: the Winograd path
        const int64_t c = pick(channels, rng), h = pick(sizes, rng);
        const int64_t k = rng() % 2
                              ? pick(channels, rng)
                              : std::min<int64_t>(512, c * pick(std::vector<int64_t>{1, 2}, rng));
        ConvShape cs{1, c, h, h, k, 3, 3, 1, 1, 1, 1};
        if (!winograd_applies(cs) || cs.flops() > 4e9 || (c > 64 && h > 112)) continue;
        out.push_back(conv_config("winograd", c, k, h, 3, 1));
        ++made;
    }
    for (int made = 0; made < count(15);) {  // and its F(2x2) form on small maps
        const int64_t c = pick(channels, rng), k = pick(channels, rng);
        const int64_t h = pick(std::vector<int64_t>{11, 12, 14, 16}, rng);
        if (winograd_tile(ConvShape{1, c, h, h, k, 3, 3, 1, 1, 1, 1}) != 2) continue;
        out.push_back(conv_config("winograd", c, k, h, 3, 1));
        ++made;
    }
    // Few output channels and short reductions: the direct path, where the CPU has it.
    const bool direct = direct_conv_applies(ConvShape{1, 1, 28, 28, 6, 5, 5, 1, 1, 2, 2});
    // (Cheap to measure and most of a small CNN: a wide sweep, 5x5 as often as 3x3.)
    for (int made = 0; direct && made < count(50);) {
        const int64_t c = pick(std::vector<int64_t>{1, 1, 2, 3, 3, 4, 6, 8, 16}, rng);
        const int64_t k = pick(std::vector<int64_t>{2, 4, 6, 8, 16, 24, 32, 48, 64}, rng);
        const int64_t h = pick(sizes, rng), r = pick(std::vector<int64_t>{3, 3, 5, 5, 7}, rng);
        const int64_t stride = pick(std::vector<int64_t>{1, 1, 2}, rng);
        ConvShape cs{1, c, h, h, k, r, r, stride, stride, r / 2, r / 2};
        if (!direct_conv_applies(cs)) continue;
        out.push_back(conv_config("direct_conv", c, k, h, r, stride));
        ++made;
    }
    for (int made = 0; made < count(60);) {  // 1x1 convolutions
        const int64_t c = pick(channels, rng) * pick(std::vector<int64_t>{1, 1, 2, 3}, rng);
        const int64_t k = pick(channels, rng) * pick(std::vector<int64_t>{1, 1, 2, 3}, rng);
        const int64_t h = pick(sizes, rng);
        ConvShape cs{1, c, h, h, k, 1, 1};
        if (cs.flops() > 2e9 || cs.flops() < 1e5 || h > 112) continue;
        Config cfg{"conv1x1", "conv2d", desc("conv1x1 k" + std::to_string(k), c, h), {1, c, h, h}};
        cfg.attrs = {{"activation", "relu6"}};
        cfg.params = {{k, c, 1, 1}, {k}};
        out.push_back(cfg);
        ++made;
    }
    for (int made = 0; made < count(90);) {  // depthwise (cheap to measure; a wide sweep)
        const int64_t c = pick(channels, rng) * pick(std::vector<int64_t>{1, 2, 3, 6}, rng);
        const int64_t h = pick(sizes, rng), stride = pick(std::vector<int64_t>{1, 1, 2}, rng);
        const int64_t r = pick(std::vector<int64_t>{3, 3, 3, 5}, rng);
        if (c < 8 || double(c) * h * h > 6e6) continue;
        Config cfg{"depthwise",
                   "conv2d",
                   desc("depthwise" + std::to_string(r) + "x" + std::to_string(r) + " s" +
                            std::to_string(stride),
                        c, h),
                   {1, c, h, h}};
        cfg.attrs = {
            {"stride", stride}, {"padding", r / 2}, {"groups", c}, {"activation", "relu6"}};
        cfg.params = {{c, 1, r, r}, {c}};
        out.push_back(cfg);
        ++made;
    }
    for (int made = 0; made < count(35); ++made) {  // fully connected
        const int64_t in = pick(std::vector<int64_t>{84, 120, 256, 400, 512, 1024, 1280, 2048, 4096,
                                                     6400, 9216, 12544, 25088},
                                rng);
        const int64_t o = pick(std::vector<int64_t>{10, 84, 120, 256, 512, 1000, 2048, 4096}, rng);
        Config cfg{
            "linear", "linear", "linear " + std::to_string(in) + "->" + std::to_string(o), {1, in}};
        cfg.params = {{o, in}, {o}};
        out.push_back(cfg);
    }
    for (const char* pool : {"max_pool", "avg_pool"})
        for (int made = 0; made < count(25);) {
            const int64_t c = pick(channels, rng), h = pick(sizes, rng);
            const int64_t k = pick(std::vector<int64_t>{2, 3}, rng);
            if (double(c) * h * h > 8e6) continue;
            Config cfg{pool,
                       pool == std::string("max_pool") ? "max_pool2d" : "avg_pool2d",
                       desc(std::string(pool) + std::to_string(k), c, h),
                       {1, c, h, h}};
            cfg.attrs = {{"kernel_size", k}, {"stride", 2}, {"padding", k == 3 ? 1 : 0}};
            out.push_back(cfg);
            ++made;
        }
    for (int made = 0; made < count(20);) {
        const int64_t c = pick(channels, rng) * 2, h = pick(sizes, rng);
        if (double(c) * h * h > 8e6) continue;
        Config cfg{"adaptive_avg_pool",
                   "adaptive_avg_pool2d",
                   desc("adaptive_avg_pool", c, h),
                   {1, c, h, h}};
        cfg.attrs = {{"output_size", pick(std::vector<int64_t>{1, 1, 6, 7}, rng)}};
        out.push_back(cfg);
        ++made;
    }
    struct Simple {
        const char* kind;
        const char* op;
        int inputs;
    };
    for (Simple s :
         {Simple{"add", "add", 2}, Simple{"concat", "concat", 2}, Simple{"activation", "relu", 1},
          Simple{"softmax", "softmax", 1}, Simple{"flatten", "flatten", 1}})
        for (int made = 0; made < count(20);) {
            const int64_t c = pick(channels, rng), h = pick(sizes, rng);
            if (double(c) * h * h > 8e6) continue;
            Config cfg{s.kind, s.op, desc(s.kind, c, h), {1, c, h, h}};
            cfg.inputs = s.inputs;
            if (s.kind == std::string("softmax")) cfg.attrs = {{"dim", 1}};
            out.push_back(cfg);
            ++made;
        }
    // In a seeded random order, so that each kind's layers are timed all through the sweep
    // rather than in one stretch of it: the machine's speed moves from one half-minute to the
    // next (in one deploy the synthetic networks, timed at each quarter of the sweep, all ran
    // 8-13 % slower in the third round than in the second), which, kind by kind in blocks, went
    // into each kind's fit as a bias of its own.
    std::shuffle(out.begin(), out.end(), rng);
    return out;
}

}  // namespace nse
