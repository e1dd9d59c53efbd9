// Pooling kernels against the naive reference, PyTorch's ceil_mode and padding rules included.
#include "tests/kernel_tester.h"

namespace nse::test {

TEST(MaxPool2d, Shapes) {
    PoolTester().in(3, 8, 8).k(2).stride(2).check_max();
    PoolTester().in(3, 9, 11).k(3).stride(2).check_max();
    PoolTester().in(2, 112, 112).k(3).stride(2).pad(1).check_max();  // resnet stem
    PoolTester().in(2, 55, 55).k(3).stride(2).check_max();           // alexnet
    PoolTester().in(2, 10, 10).k(3).stride(1).pad(1).check_max();
    PoolTester().in(2, 12, 12).k(3).stride(2).dilation(2).pad(1).check_max();
    PoolTester().in(2, 7, 9).k(2, 3).stride(2).check_max();
    PoolTester().batch(3).in(2, 6, 6).k(2).stride(2).check_max();
    PoolTester().in(3, 36, 150).k(2).stride(2).check_max();  // VGG16's, vectorised over rows
    PoolTester().in(2, 9, 67).k(2).stride(2).ceil().check_max();
    PoolTester().in(3, 28, 28).k(3).stride(1).pad(1).ceil().check_max();  // GoogLeNet's branches
    PoolTester().in(2, 9, 9).k(4).stride(1).pad(2).check_max();     // 4 rows, columns tap by tap
    PoolTester().in(2, 6, 5).k(1).stride(1).check_max();            // one row: copied
    PoolTester().in(1, 3, 4100).k(3).stride(1).pad(1).check_max();  // wider than the row buffer
}

// Inputs past kPoolStreamedInputBytes are reduced one input row at a time (simd/pool_body.h).
TEST(MaxPool2d, InputsFromMemory) {
    static_assert(int64_t(6) * 420 * 420 * 4 > kPoolStreamedInputBytes);
    PoolTester().in(6, 420, 420).k(2).stride(2).check_max();                // VGG16's first
    PoolTester().in(6, 420, 420).k(3).stride(2).pad(1).check_max();         // a stem's
    PoolTester().in(6, 420, 421).k(3).stride(1).pad(1).ceil().check_max();  // partial vectors
}

TEST(MaxPool2d, CeilMode) {
    PoolTester().in(2, 7, 7).k(2).stride(2).ceil().check_max();
    PoolTester().in(2, 10, 13).k(3).stride(2).ceil().check_max();
    PoolTester().in(2, 5, 5).k(3).stride(2).pad(1).ceil().check_max();
    PoolTester().in(1, 6, 6).k(2).stride(4).ceil().check_max();
    // Batch 2 with odd planes (the CUDA backend's sweep found these).
    PoolTester().batch(2).in(5, 14, 11).k(3).stride(2).ceil().check_max();
    PoolTester().batch(2).in(5, 14, 11).k(3).stride(2).pad(1).ceil().check_max();
    PoolTester().batch(2).in(5, 14, 11).k(2, 3).stride(1).check_max();
}

TEST(AvgPool2d, Shapes) {
    PoolTester().in(3, 8, 8).k(2).stride(2).check_avg();
    PoolTester().in(3, 9, 9).k(3).stride(2).pad(1).check_avg();
    PoolTester().in(3, 9, 9).k(3).stride(2).pad(1).exclude_pad().check_avg();
    PoolTester().in(2, 7, 7).k(7).stride(1).check_avg();
    PoolTester().in(4, 56, 56).k(2).stride(2).check_avg();         // DenseNet's transitions
    PoolTester().in(3, 17, 17).k(3).stride(1).pad(1).check_avg();  // Inception-v3's branches
    PoolTester().in(3, 17, 17).k(3).stride(1).pad(1).exclude_pad().check_avg();
    PoolTester().in(2, 9, 35).k(3).stride(2).pad(1).exclude_pad().check_avg();  // rows of vectors
    PoolTester().in(2, 9, 9).k(4).stride(1).pad(2).check_avg();     // columns one by one
    PoolTester().in(1, 3, 4100).k(3).stride(1).pad(1).check_avg();  // wider than the buffer
}

TEST(AvgPool2d, InputsFromMemory) {
    static_assert(int64_t(6) * 420 * 420 * 4 > kPoolStreamedInputBytes);
    PoolTester().in(6, 420, 420).k(2).stride(2).check_avg();
    PoolTester().in(6, 420, 421).k(3).stride(2).pad(1).exclude_pad().check_avg();
}

TEST(AvgPool2d, CeilMode) {
    PoolTester().in(2, 7, 7).k(2).stride(2).ceil().check_avg();
    PoolTester().in(2, 10, 10).k(3).stride(2).pad(1).ceil().check_avg();
    PoolTester().in(2, 10, 10).k(3).stride(2).pad(1).ceil().exclude_pad().check_avg();
}

TEST(PoolOutSize, MatchesPyTorch) {
    // Values computed by torch.nn.functional.max_pool2d on these sizes (torch 1.13).
    EXPECT_EQ(pool_out_size(7, 2, 2, 0, 1, false), 3);
    EXPECT_EQ(pool_out_size(7, 2, 2, 0, 1, true), 4);
    EXPECT_EQ(pool_out_size(5, 3, 2, 1, 1, true), 3);
    EXPECT_EQ(pool_out_size(6, 2, 4, 0, 1, true), 2);
    EXPECT_EQ(pool_out_size(112, 3, 2, 1, 1, false), 56);
}

TEST(AdaptiveAvgPool2d, AgainstReference) {
    struct Case {
        int64_t h, w, p, q;
    };
    for (Case c : {Case{7, 7, 1, 1}, Case{13, 13, 6, 6}, Case{6, 6, 6, 6}, Case{5, 9, 3, 4},
                   Case{4, 4, 7, 7}}) {
        auto x = random_vector(2 * 3 * c.h * c.w, 5);
        std::vector<float> y(2 * 3 * c.p * c.q), ref(y.size());
        adaptive_avg_pool2d_f32_cpu(test_pool(), 2, 3, c.h, c.w, c.p, c.q, x.data(), y.data());
        ref::adaptive_avg_pool2d(2, 3, c.h, c.w, c.p, c.q, x.data(), ref.data());
        EXPECT_LE(max_rel_diff(y, ref), 1e-6) << c.h << "x" << c.w << " -> " << c.p << "x" << c.q;
    }
}

TEST(AdaptiveAvgPool2d, LargeMapsKeepTheirPrecision) {
    // Squeeze-and-excite over EfficientNet-B7's 300x300 maps, values with an offset larger than
    // their spread: a single float running sum is off by ~1e-3 here, the kernel's by < 1e-6.
    for (auto [h, w] : {std::pair<int64_t, int64_t>{300, 300}, {150, 37}, {1, 4099}}) {
        auto x = random_vector(2 * h * w, 6, 10.f, 11.f);
        std::vector<float> y(2), ref(2);
        adaptive_avg_pool2d_f32_cpu(test_pool(), 1, 2, h, w, 1, 1, x.data(), y.data());
        ref::adaptive_avg_pool2d(1, 2, h, w, 1, 1, x.data(), ref.data());
        for (int i = 0; i < 2; ++i) EXPECT_NEAR(y[i], ref[i], 1e-6 * ref[i]) << h << "x" << w;
    }
}

}  // namespace nse::test
