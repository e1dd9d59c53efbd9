// End-to-end parity with PyTorch: every converted model reproduces torchvision's output on the
// reference input (max |diff| <= 1e-4 * max |ref|, same top-1), and every split of it equals the
// whole run bit for bit. The models are converted by the ctest fixtures `convert_models` (the
// demo set, into models/), `convert_zoo_subset` (one of each torchvision family, into test data)
// and `make_custom_models` (small modules, some through ONNX, into test data).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "engine/runtime.h"
#include "tests/test_helpers.h"

#ifndef NSE_TEST_MODELS_DIR
#error "NSE_TEST_MODELS_DIR must point at the converted models"
#endif

namespace nse::test {

// (folder, model name)
using ModelFile = std::pair<std::string, std::string>;

class Parity : public ::testing::TestWithParam<ModelFile> {
  protected:
    void SetUp() override {
        const auto& [dir, name] = GetParam();
        model_ = Model::load(dir + "/" + name + ".safetensors");
        SafeTensors ref = read_safetensors(dir + "/" + name + ".ref.safetensors");
        input_ = ref.tensors.at("input").clone();
        expected_ = ref.tensors.at("output").clone();
    }
    std::shared_ptr<const Model> model_;
    Tensor input_, expected_;
};

TEST_P(Parity, MatchesPyTorch) {
    Runtime rt(model_, current_test_pool());
    const Tensor& y = rt.run(input_);
    ASSERT_EQ(y.shape(), expected_.shape());
    double max_diff = 0, max_ref = 0;
    for (int64_t i = 0; i < y.numel(); ++i) {
        max_diff = std::max(max_diff, double(std::fabs(y.data()[i] - expected_.data()[i])));
        max_ref = std::max(max_ref, double(std::fabs(expected_.data()[i])));
    }
    EXPECT_GT(max_ref, 0.0);
    RecordProperty("max_rel_diff", std::to_string(max_diff / max_ref));
    std::printf("%s: max|diff| / max|ref| = %.3g\n", GetParam().second.c_str(), max_diff / max_ref);
    EXPECT_LE(max_diff, 1e-4 * max_ref) << "max|diff| " << max_diff << ", max|ref| " << max_ref;
    auto argmax = [](const Tensor& t) {
        return std::max_element(t.data(), t.data() + t.numel()) - t.data();
    };
    EXPECT_EQ(argmax(y), argmax(expected_));
}

TEST_P(Parity, EverySplitEqualsWholeRunExactly) {
    Runtime whole(model_, current_test_pool()), split(model_, current_test_pool());
    Tensor full = whole.run(input_).clone();
    const int n = model_->size();
    for (int k = 0; k <= n; ++k) {
        std::vector<Tensor> mid;
        for (const Tensor& t : split.run(0, k, {input_})) mid.push_back(t.clone());
        const std::vector<Tensor>& out = split.run(k, n, mid);
        ASSERT_EQ(out.size(), 1u);
        ASSERT_EQ(0, std::memcmp(out[0].data(), full.data(), full.bytes())) << "cut " << k;
    }
}

std::vector<ModelFile> in(const std::string& dir, const std::vector<std::string>& names) {
    std::vector<ModelFile> out;
    for (const auto& n : names) out.emplace_back(dir, n);
    return out;
}

// The torchvision models (the README's models/ folder) and small converted modules for ops those
// lack (test data).
INSTANTIATE_TEST_SUITE_P(Models, Parity,
                         ::testing::ValuesIn(in(NSE_TEST_MODELS_DIR,
                                                {"lenet", "alexnet", "mobilenet_v2", "resnet18",
                                                 "vgg16"})),
                         [](const auto& info) { return info.param.second; });
INSTANTIATE_TEST_SUITE_P(
    Custom, Parity,
    ::testing::ValuesIn(in(NSE_TEST_DATA_DIR,
                           {"sigmoid_gate", "activations", "squeeze_excite", "dense_order",
                            "shuffle", "channels_last", "tiny_vit", "tiny_swin", "tiny_swin_v2",
                            "tiny_maxvit", "onnx_activations", "onnx_shuffle", "onnx_channels_last",
                            "onnx_dense_order", "onnx_counted_pad_pools", "onnx_tiny_vit",
                            "onnx_tiny_maxvit"})),
    [](const auto& info) { return info.param.second; });
// One network of each torchvision family (the ctest fixture convert_zoo_subset).
INSTANTIATE_TEST_SUITE_P(
    Zoo, Parity,
    ::testing::ValuesIn(in(std::string(NSE_TEST_DATA_DIR) + "/zoo",
                           {"vgg11_bn", "resnext50_32x4d", "squeezenet1_1", "densenet121",
                            "googlenet", "inception_v3", "mobilenet_v3_small", "mnasnet0_5",
                            "shufflenet_v2_x0_5", "efficientnet_b0", "regnet_y_400mf",
                            "convnext_tiny", "vit_b_32", "swin_t"})),
    [](const auto& info) { return info.param.second; });

}  // namespace nse::test
