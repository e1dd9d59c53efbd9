// The CUDA backend against the CPU kernels (shape sweeps of every op) and against PyTorch (the
// five models), split runs across devices, graph replay, and a CPU edge with a CUDA cloud.
// Every test skips with the reason when this machine has no usable GPU; the one that checks
// the error a user gets then runs instead.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

#include "engine/cuda_runtime.h"
#include "engine/runtime.h"
#include "net/edge.h"
#include "net/server.h"
#include "tests/model_builder.h"
#include "weights/safetensors.h"

#ifndef NSE_TEST_MODELS_DIR
#error "NSE_TEST_MODELS_DIR must point at the converted models"
#endif

namespace nse::test {
namespace {

// Empty when a GPU can be used, else why not.
std::string no_gpu_reason() {
    try {
        check_cuda_device();
        return "";
    } catch (const Error& e) {
        return e.what();
    }
}

#define REQUIRE_GPU()                                                     \
    do {                                                                  \
        const std::string why = no_gpu_reason();                          \
        if (!why.empty()) GTEST_SKIP() << "no CUDA device here: " << why; \
    } while (0)

DeviceOptions cuda_options(bool graphs = true) {
    DeviceOptions o;
    o.device = Device::Cuda;
    o.cuda_graphs = graphs;
    return o;
}

Tensor random_tensor(const Shape& shape, std::mt19937& rng, float scale = 1.f) {
    Tensor t = Tensor::zeros(shape);
    std::normal_distribution<float> d(0.f, scale);
    for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = d(rng);
    return t;
}

// max |a - b| <= tol * max(|b|, 1e-3).
void expect_close(const Tensor& a, const Tensor& b, double tol, const std::string& what) {
    ASSERT_EQ(a.shape(), b.shape()) << what;
    double diff = 0, ref = 1e-3;
    for (int64_t i = 0; i < a.numel(); ++i) {
        ASSERT_FALSE(std::isnan(a.data()[i])) << what << ": NaN at " << i;
        diff = std::max(diff, double(std::fabs(a.data()[i] - b.data()[i])));
        ref = std::max(ref, double(std::fabs(b.data()[i])));
    }
    EXPECT_LE(diff, tol * ref) << what << ": max|diff| " << diff << ", max|ref| " << ref;
}

// One model per op configuration: node "op" on the input (and a second input for add/concat,
// made by a relu of the input so the graph still has one input).
struct OpCase {
    std::string desc;
    Shape input;
    std::string op;
    nlohmann::json attrs;
    std::vector<Shape> params;  // weight (and bias)
    bool two_inputs = false;
};

std::shared_ptr<const Model> build(const OpCase& c, std::mt19937& rng, const std::string& file) {
    ModelBuilder b(c.input);
    std::vector<std::string> ins{"input"};
    if (c.two_inputs) {
        b.node("other", "relu", {"input"});
        ins.push_back("other");
    }
    std::vector<std::string> pnames;
    for (size_t i = 0; i < c.params.size(); ++i) {
        pnames.push_back("p" + std::to_string(i));
        b.tensors[pnames.back()] = random_tensor(c.params[i], rng, 0.2f);
    }
    b.node("op", c.op, ins, c.attrs, pnames).output("op");
    return b.load(file);
}

void check_case(const OpCase& c, std::mt19937& rng) {
    auto model = build(c, rng, "cuda_op.safetensors");
    Tensor x = random_tensor(c.input, rng);
    Runtime cpu(model, current_test_pool());
    Tensor want = cpu.run(x).clone();
    auto gpu = make_executor(model, cuda_options(), current_test_pool());
    for (int rep = 0; rep < 3; ++rep)  // eager, then captured, then graph replay
        expect_close(gpu->run(x), want, 1e-4, c.desc + " run " + std::to_string(rep));
}

TEST(Cuda, ConvolutionsMatchTheCpuKernels) {
    REQUIRE_GPU();
    std::mt19937 rng(7);
    for (const char* act : {"none", "relu", "relu6"})
        for (int bias = 0; bias < 2; ++bias) {
            auto conv = [&](std::string d, Shape x, Shape w, nlohmann::json attrs) {
                attrs["activation"] = act;
                std::vector<Shape> p{w};
                if (bias) p.push_back({w[0]});
                check_case({d + " " + act + (bias ? " bias" : ""), x, "conv2d", attrs, p}, rng);
            };
            conv("3x3 pad 1", {1, 3, 17, 19}, {8, 3, 3, 3}, {{"padding", 1}});
            conv("11x11 s4 p2 (alexnet)", {1, 3, 67, 67}, {16, 3, 11, 11},
                 {{"stride", 4}, {"padding", 2}});
            conv("1x1", {2, 16, 9, 7}, {24, 16, 1, 1}, {});
            conv("1x1 stride 2", {1, 16, 10, 10}, {8, 16, 1, 1}, {{"stride", 2}});
            conv("7x7 s2 p3", {1, 3, 32, 30}, {8, 3, 7, 7}, {{"stride", 2}, {"padding", 3}});
            conv("dilated", {1, 4, 15, 15}, {4, 4, 3, 3}, {{"padding", 2}, {"dilation", 2}});
            conv("grouped", {1, 8, 12, 12}, {8, 2, 3, 3}, {{"padding", 1}, {"groups", 4}});
            conv("depthwise 3x3", {1, 32, 28, 28}, {32, 1, 3, 3}, {{"padding", 1}, {"groups", 32}});
            conv("depthwise s2", {2, 16, 15, 15}, {16, 1, 3, 3},
                 {{"stride", 2}, {"padding", 1}, {"groups", 16}});
            conv("depthwise 5x5", {1, 8, 14, 14}, {8, 1, 5, 5}, {{"padding", 2}, {"groups", 8}});
            conv("depthwise 3x5 asym", {1, 4, 9, 11}, {4, 1, 3, 5},
                 {{"padding", std::vector<int>{1, 2}}, {"groups", 4}});
        }
}

TEST(Cuda, LinearMatchesTheCpuKernel) {
    REQUIRE_GPU();
    std::mt19937 rng(8);
    for (const char* act : {"none", "relu"})
        for (Shape x : {Shape{1, 37}, Shape{3, 256}, Shape{1, 4096}}) {
            check_case({"linear " + shape_str(x) + " " + act,
                        x,
                        "linear",
                        {{"activation", act}},
                        {{29, x[1]}, {29}}},
                       rng);
            check_case(
                {"linear no bias " + shape_str(x), x, "linear", {{"activation", act}}, {{5, x[1]}}},
                rng);
        }
}

TEST(Cuda, PoolingMatchesTheCpuKernels) {
    REQUIRE_GPU();
    std::mt19937 rng(9);
    const std::vector<std::pair<std::string, nlohmann::json>> cases = {
        {"2x2", {{"kernel_size", 2}}},
        {"3x3 s2 (alexnet)", {{"kernel_size", 3}, {"stride", 2}}},
        {"3x3 s2 p1 (resnet)", {{"kernel_size", 3}, {"stride", 2}, {"padding", 1}}},
        {"3x3 s2 ceil", {{"kernel_size", 3}, {"stride", 2}, {"ceil_mode", true}}},
        {"3x3 s2 p1 ceil",
         {{"kernel_size", 3}, {"stride", 2}, {"padding", 1}, {"ceil_mode", true}}},
        {"2x3 s(1,2)",
         {{"kernel_size", std::vector<int>{2, 3}}, {"stride", std::vector<int>{1, 2}}}},
    };
    for (const auto& [d, attrs] : cases) {
        for (Shape x : {Shape{1, 3, 13, 13}, Shape{2, 5, 14, 11}}) {
            check_case({"max " + d + " " + shape_str(x), x, "max_pool2d", attrs, {}}, rng);
            for (bool include : {true, false}) {
                nlohmann::json a = attrs;
                a["count_include_pad"] = include;
                check_case({"avg " + d + (include ? " incl" : " excl") + " " + shape_str(x),
                            x,
                            "avg_pool2d",
                            a,
                            {}},
                           rng);
            }
        }
    }
    check_case({"max dilated",
                {1, 2, 12, 12},
                "max_pool2d",
                {{"kernel_size", 3}, {"dilation", 2}, {"padding", 1}},
                {}},
               rng);
    for (auto [x, out] : std::vector<std::pair<Shape, int>>{
             {{1, 8, 7, 7}, 1}, {{2, 3, 13, 11}, 1}, {{1, 4, 6, 6}, 6}, {{1, 4, 13, 10}, 3}})
        check_case({"adaptive " + shape_str(x) + " -> " + std::to_string(out),
                    x,
                    "adaptive_avg_pool2d",
                    {{"output_size", out}},
                    {}},
                   rng);
}

TEST(Cuda, ElementwiseOpsMatchTheCpuKernels) {
    REQUIRE_GPU();
    std::mt19937 rng(10);
    for (Shape x : {Shape{1, 7}, Shape{2, 3, 5, 9}, Shape{1, 1000}}) {
        check_case({"relu " + shape_str(x), x, "relu", {}, {}}, rng);
        check_case({"relu6 " + shape_str(x), x, "relu6", {}, {}}, rng);
        check_case({"sigmoid " + shape_str(x), x, "sigmoid", {}, {}}, rng);  // CPU fallback
        for (const char* act : {"none", "relu"})
            check_case({"add " + std::string(act), x, "add", {{"activation", act}}, {}, true}, rng);
        check_case({"concat last", x, "concat", {{"dim", -1}}, {}, true}, rng);
        check_case({"concat 0", x, "concat", {{"dim", 0}}, {}, true}, rng);
        check_case({"softmax last", x, "softmax", {{"dim", -1}}, {}}, rng);
        check_case({"softmax 1", x, "softmax", {{"dim", 1}}, {}}, rng);
        check_case({"flatten", x, "flatten", {}, {}}, rng);
    }
    check_case({"concat channels", {1, 4, 3, 3}, "concat", {{"dim", 1}}, {}, true}, rng);
    check_case({"softmax big row", {1, 50000}, "softmax", {{"dim", 1}}, {}}, rng);
}

// An op without a GPU kernel (sigmoid: its record says kCpuFallback) between GPU ops runs on the
// CPU inside the CUDA runtime: the same results node by node, captured and replayed, at every cut
// (the fallback's copies and host function are on the stream), and its `how` says so.
TEST(Cuda, OpsWithoutAGpuKernelRunOnTheCpuInside) {
    REQUIRE_GPU();
    ASSERT_FALSE(find_op("sigmoid")->gpu.kernel) << "sigmoid has a GPU kernel now: pick another";
    std::mt19937 rng(12);
    ModelBuilder b({1, 3, 12, 12});
    b.node("conv", "conv2d", {"input"}, {{"padding", 1}}, {"w1", "b1"})
        .node("gate", "sigmoid", {"conv"})
        .node("conv2", "conv2d", {"gate"}, {{"padding", 1}, {"activation", "relu"}}, {"w2"})
        .node("gate2", "sigmoid", {"conv2"})
        .output("gate2");
    b.tensors["w1"] = random_tensor({8, 3, 3, 3}, rng, 0.3f);
    b.tensors["b1"] = random_tensor({8}, rng, 0.3f);
    b.tensors["w2"] = random_tensor({4, 8, 3, 3}, rng, 0.3f);
    auto model = b.load("cuda_fallback.safetensors");
    Tensor x = random_tensor({1, 3, 12, 12}, rng);
    Runtime cpu(model, current_test_pool());
    Tensor want = cpu.run(x).clone();
    auto gpu = make_executor(model, cuda_options(), current_test_pool());
    for (int rep = 0; rep < 3; ++rep)
        expect_close(gpu->run(x), want, 1e-5, "whole run " + std::to_string(rep));
    const std::vector<std::string> how = gpu->node_choices(1);
    ASSERT_EQ(how.size(), 4u);
    EXPECT_NE(how[1].find("CPU fallback"), std::string::npos) << how[1];
    EXPECT_EQ(how[0].find("CPU fallback"), std::string::npos) << how[0];
    const int n = model->size();
    for (int k = 0; k <= n; ++k) {
        std::vector<Tensor> mid;
        for (const Tensor& t : cpu.run(0, k, {x})) mid.push_back(t.clone());
        for (int rep = 0; rep < 2; ++rep)
            expect_close(gpu->run(k, n, mid)[0], want, 1e-5, "cut " + std::to_string(k));
    }
}

TEST(Cuda, DagWithEverySplitMatchesTheCpu) {
    REQUIRE_GPU();
    auto model = small_dag().load("cuda_dag.safetensors");
    std::mt19937 rng(11);
    Tensor x = random_tensor({1, 3, 8, 8}, rng);
    Runtime cpu(model, current_test_pool());
    Tensor want = cpu.run(x).clone();
    auto gpu = make_executor(model, cuda_options(), current_test_pool());
    const int n = model->size();
    for (int k = 0; k <= n; ++k) {
        // Prefix on the CPU, suffix on the GPU, as an edge and a CUDA cloud split it.
        std::vector<Tensor> mid;
        for (const Tensor& t : cpu.run(0, k, {x})) mid.push_back(t.clone());
        expect_close(gpu->run(k, n, mid)[0], want, 1e-4, "cut " + std::to_string(k));
    }
}

TEST(Cuda, RejectsWrongInputsLikeTheCpu) {
    REQUIRE_GPU();
    auto model = small_chain().load("cuda_chain.safetensors");
    auto gpu = make_executor(model, cuda_options(), current_test_pool());
    Tensor wrong = Tensor::zeros({1, 2, 6, 5});
    expect_error([&] { gpu->run(wrong); }, "must have shape [1, 2, 5, 5]");
    expect_error([&] { gpu->run(0, 9, {wrong}); }, "is not within");
}

// The five models against PyTorch's output, as tests/test_parity.cpp does for the CPU.
class CudaParity : public ::testing::TestWithParam<std::string> {};

TEST_P(CudaParity, MatchesPyTorchAndCpuSplits) {
    REQUIRE_GPU();
    const std::string dir = NSE_TEST_MODELS_DIR;
    auto model = Model::load(dir + "/" + GetParam() + ".safetensors");
    SafeTensors ref = read_safetensors(dir + "/" + GetParam() + ".ref.safetensors");
    const Tensor& x = ref.tensors.at("input");
    const Tensor& want = ref.tensors.at("output");
    auto argmax = [](const Tensor& t) {
        return std::max_element(t.data(), t.data() + t.numel()) - t.data();
    };
    auto gpu = make_executor(model, cuda_options(), current_test_pool());
    for (int rep = 0; rep < 3; ++rep) {
        const Tensor& y = gpu->run(x);
        expect_close(y, want, 1e-4, GetParam() + " run " + std::to_string(rep));
        EXPECT_EQ(argmax(y), argmax(want));
    }
    // Without graphs, node by node: the same numbers.
    auto eager = make_executor(model, cuda_options(false), current_test_pool());
    expect_close(eager->run(x), want, 1e-4, GetParam() + " without graphs");
    // Prefix on the CPU, suffix on the GPU, at a few cuts.
    Runtime cpu(model, current_test_pool());
    const int n = model->size();
    for (int k : {1, n / 3, n / 2, n - 1}) {
        std::vector<Tensor> mid;
        for (const Tensor& t : cpu.run(0, k, {x})) mid.push_back(t.clone());
        expect_close(gpu->run(k, n, mid)[0], want, 1e-4, GetParam() + " cut " + std::to_string(k));
    }
}

INSTANTIATE_TEST_SUITE_P(Models, CudaParity,
                         ::testing::Values("lenet", "alexnet", "mobilenet_v2", "resnet18", "vgg16"),
                         [](const auto& info) { return info.param; });

TEST(Cuda, CpuEdgeWithCudaCloudGivesTheLocalAnswer) {
    REQUIRE_GPU();
    const std::string dir = NSE_TEST_MODELS_DIR;
    for (const char* name : {"mobilenet_v2", "resnet18"}) {
        const std::string path = dir + "/" + name + ".safetensors";
        net::ServedModel served{Model::load(path), file_content_hash(path)};
        SafeTensors ref = read_safetensors(dir + "/" + name + ".ref.safetensors");
        Tensor x = ref.tensors.at("input").clone();
        Runtime cpu(served.model, current_test_pool());
        Tensor local = cpu.run(x).clone();
        net::ServerOptions so;
        so.port = 0;
        so.device = cuda_options();
        so.workers = 2;
        net::BackgroundServer cloud(so, {served});
        net::ClientOptions co;
        co.port = cloud.port();
        co.request_timeout_s = 60;
        net::EdgeRunner edge(served.model, served.hash, co, current_test_pool(),
                             /*require_cloud=*/true);
        EXPECT_EQ(edge.connect().value("device", ""), "cuda");
        auto argmax = [](const Tensor& t) {
            return std::max_element(t.data(), t.data() + t.numel()) - t.data();
        };
        const int n = served.model->size();
        for (int k : {0, 3, n / 2, n - 1}) {
            net::EdgeReport r;
            const Tensor& y = edge.infer(x, k, r);
            EXPECT_TRUE(r.offloaded) << name << " cut " << k;
            expect_close(y, local, 1e-4, std::string(name) + " cut " + std::to_string(k));
            EXPECT_EQ(argmax(y), argmax(local));
        }
    }
}

// Without a GPU, asking for one is a clear error (not a crash); this is what CI checks.
TEST(Cuda, AskingForCudaWithoutAGpuIsAClearError) {
    if (no_gpu_reason().empty()) GTEST_SKIP() << "this machine has a GPU";
    auto model = small_chain().load("cuda_none.safetensors");
    try {
        make_executor(model, cuda_options(), current_test_pool());
        ADD_FAILURE() << "make_executor(cuda) succeeded without a GPU";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::Unsupported);
        EXPECT_NE(std::string(e.what()).find("--device cuda"), std::string::npos) << e.what();
    }
}

}  // namespace
}  // namespace nse::test
