// Image preprocessing against torchvision's transforms on the same PNG (made by
// make_image_ref.py): PIL's antialiased bilinear resize, centre crop and normalisation.
#include <cmath>

#include "tests/test_helpers.h"
#include "tools/image.h"

namespace nse::test {

namespace {
void compare(const Tensor& ours, const Tensor& ref) {
    ASSERT_EQ(ours.shape(), ref.shape());
    double max_diff = 0, sum_diff = 0;
    for (int64_t i = 0; i < ours.numel(); ++i) {
        const double d = std::fabs(ours.data()[i] - ref.data()[i]);
        max_diff = std::max(max_diff, d);
        sum_diff += d;
    }
    // PIL resamples in fixed point and rounds to 8 bits between passes; allow two grey levels
    // (in normalised units, divided by the smallest std) at worst and far less on average.
    EXPECT_LE(max_diff, 2.0 / 255 / 0.224 + 1e-6);
    EXPECT_LE(sum_diff / ours.numel(), 0.25 / 255 / 0.224);
}
}  // namespace

TEST(Image, MatchesTorchvisionImageNetPreprocessing) {
    const std::string dir = NSE_TEST_DATA_DIR;
    SafeTensors ref = read_safetensors(dir + "/test_image.ref.safetensors");
    Image img = load_image(dir + "/test_image.png");
    EXPECT_EQ(img.width, 301);
    EXPECT_EQ(img.height, 217);
    compare(preprocess_image(img, Preprocess{}), ref.tensors.at("imagenet"));
}

TEST(Image, MatchesTorchvisionGreyscalePreprocessing) {
    const std::string dir = NSE_TEST_DATA_DIR;
    SafeTensors ref = read_safetensors(dir + "/test_image.ref.safetensors");
    Preprocess mnist;
    mnist.resize = mnist.crop = 28;
    mnist.mean = {0.1307f};
    mnist.std = {0.3081f};
    compare(preprocess_image(load_image(dir + "/test_image.png"), mnist), ref.tensors.at("mnist"));
}

TEST(Image, UndecodableFileIsAClearError) {
    const std::string path = temp_path("not_an_image.png");
    write_bytes(path, "this is not a png");
    expect_error([&] { load_image(path); }, "cannot decode image");
}

}  // namespace nse::test
