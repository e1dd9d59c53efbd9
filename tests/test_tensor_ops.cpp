// The unary functions (sigmoid, SiLU, hardswish, hardsigmoid, GELU) on both CPU paths, and the
// per-channel, broadcast, permute, slice and layer-norm kernels, against the naive references
// over shape sweeps and thread counts.
#include <gtest/gtest.h>

#include <cmath>

#include "kernels/cpu/tensor_ops.h"
#include "kernels/cpu/unary.h"
#include "kernels/reference/reference.h"
#include "tests/kernel_tester.h"

namespace nse::test {

namespace {
const UnaryOp kUnary[] = {UnaryOp::Sigmoid,     UnaryOp::Silu, UnaryOp::Hardswish,
                          UnaryOp::Hardsigmoid, UnaryOp::Gelu, UnaryOp::Tanh};

void expect_unary_close(UnaryOp op, const std::vector<float>& x, const std::vector<float>& y,
                        const std::vector<float>& ref, const char* path) {
    for (size_t i = 0; i < x.size(); ++i)
        ASSERT_NEAR(y[i], ref[i], 1e-7f + 3e-7f * std::fabs(ref[i]))
            << unary_name(op) << " (" << path << ") x=" << x[i] << " n=" << x.size();
}
}  // namespace

TEST(Unary, EveryOpAgainstReferenceOverSizesAndThreads) {
    for (UnaryOp op : kUnary)
        for (int threads : {1, 2, 3}) {
            use_threads(threads);
            for (int64_t n : {1, 15, 16, 17, 100, 20000, 100003}) {
                auto x = random_vector(n, 21, -12.f, 12.f);
                std::vector<float> y(n), ref(n);
                unary_f32_cpu(test_pool(), n, op, x.data(), y.data());
                ref::unary(n, op, x.data(), ref.data());
                expect_unary_close(op, x, y, ref, "dispatched");
            }
        }
    use_threads(hardware_threads());
}

TEST(Unary, PortablePathAgainstReference) {
    for (UnaryOp op : kUnary) {
        auto x = random_vector(4099, 22, -12.f, 12.f);
        std::vector<float> y(x.size()), ref(x.size());
        unary_f32_portable(int64_t(x.size()), op, x.data(), y.data());
        ref::unary(int64_t(x.size()), op, x.data(), ref.data());
        expect_unary_close(op, x, y, ref, "portable");
    }
}

TEST(Unary, ExtremesInPlaceAndNames) {
    const std::vector<float> x = {-1e30f, -100.f, -88.f, -3.f,  -1e-8f, 0.f,
                                  1e-8f,  3.f,    88.f,  100.f, 1e30f};
    for (UnaryOp op : kUnary) {
        std::vector<float> y = x, ref(x.size());
        unary_f32_cpu(test_pool(), int64_t(y.size()), op, y.data(), y.data());
        ref::unary(int64_t(x.size()), op, x.data(), ref.data());
        for (size_t i = 0; i < x.size(); ++i) {
            ASSERT_FALSE(std::isnan(y[i])) << unary_name(op) << " of " << x[i];
            EXPECT_NEAR(y[i], ref[i], 1e-7 + 3e-7 * std::fabs(ref[i]))
                << unary_name(op) << " of " << x[i];
        }
        UnaryOp back;
        ASSERT_TRUE(unary_from_name(unary_name(op), &back));
        EXPECT_EQ(back, op);
    }
    UnaryOp none;
    EXPECT_FALSE(unary_from_name("cosh", &none));
}

TEST(ChannelAffine, AgainstReference) {
    for (Activation act : {Activation::None, Activation::Relu, Activation::Relu6})
        for (auto [n, c, inner] : {std::array<int64_t, 3>{1, 3, 1}, {2, 5, 7}, {1, 64, 3136}}) {
            auto x = random_vector(n * c * inner, 3, -8.f, 8.f);
            auto s = random_vector(c, 4), t = random_vector(c, 5);
            std::vector<float> y(x.size()), ref(x.size());
            channel_affine_f32_cpu(test_pool(), n, c, inner, s.data(), t.data(), act, x.data(),
                                   y.data());
            ref::channel_affine(n, c, inner, s.data(), t.data(), act, x.data(), ref.data());
            EXPECT_LE(max_rel_diff(y, ref), 1e-6) << c << "x" << inner;
        }
}

TEST(Binary, BroadcastsAgainstReference) {
    struct Case {
        Shape a, b;
    };
    const Case cases[] = {
        {{1, 64, 56, 56}, {1, 64, 1, 1}},  // squeeze-and-excite
        {{1, 64, 1, 1}, {1, 64, 56, 56}},  // the other way round
        {{2, 3, 4, 5}, {2, 3, 4, 5}},      // same shape
        {{1, 8, 7, 7}, {8, 1, 1}},         // a constant per channel, lower rank
        {{2, 3, 4}, {4}},                  // along the last axis
        {{2, 1, 4}, {1, 3, 1}},            // both broadcast
        {{5}, {1}},
        {{3, 1, 17}, {3, 5, 1}},
    };
    for (int threads : {1, 2})
        for (const Case& c : cases)
            for (BinaryOp op : {BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div}) {
                use_threads(threads);
                const size_t r = std::max(c.a.size(), c.b.size());
                Shape y(r);
                for (size_t i = 0; i < r; ++i) {
                    const int64_t da = i + c.a.size() >= r ? c.a[i + c.a.size() - r] : 1;
                    const int64_t db = i + c.b.size() >= r ? c.b[i + c.b.size() - r] : 1;
                    y[i] = std::max(da, db);
                }
                auto a = random_vector(numel(c.a), 6), b = random_vector(numel(c.b), 7, 0.5f, 2.f);
                std::vector<float> out(numel(y)), ref(numel(y));
                binary_f32_cpu(test_pool(), op, c.a, a.data(), c.b, b.data(), y, out.data());
                ref::binary(op, c.a, a.data(), c.b, b.data(), y, ref.data());
                ASSERT_LE(max_rel_diff(out, ref), 1e-6)
                    << shape_str(c.a) << " op " << int(op) << " " << shape_str(c.b);
            }
    use_threads(hardware_threads());
}

TEST(Permute, AgainstReference) {
    struct Case {
        Shape x;
        std::vector<int64_t> perm;
    };
    const Case cases[] = {
        {{1, 24, 28, 28}, {0, 2, 3, 1}},        // to channels-last
        {{1, 28, 28, 24}, {0, 3, 1, 2}},        // and back
        {{1, 2, 58, 28, 28}, {0, 2, 1, 3, 4}},  // channel shuffle
        {{3, 4}, {1, 0}},
        {{2, 1, 3}, {2, 1, 0}},
        {{5}, {0}},
        {{1, 1, 1}, {2, 0, 1}},
    };
    for (int threads : {1, 2})
        for (const Case& c : cases) {
            use_threads(threads);
            auto x = random_vector(numel(c.x), 8);
            std::vector<float> y(x.size()), ref(x.size());
            permute_f32_cpu(test_pool(), c.x, c.perm, x.data(), y.data());
            ref::permute(c.x, c.perm, x.data(), ref.data());
            ASSERT_EQ(y, ref) << shape_str(c.x);
        }
    use_threads(hardware_threads());
}

TEST(Slice, AgainstNaiveIndexing) {
    for (auto [outer, d, inner, start, step, count] :
         {std::array<int64_t, 6>{1, 116, 784, 0, 1, 58},
          {1, 116, 784, 58, 1, 58},
          {2, 10, 3, 1, 3, 3},
          {3, 7, 1, 6, 1, 1}}) {
        auto x = random_vector(outer * d * inner, 9);
        std::vector<float> y(outer * count * inner);
        slice_f32_cpu(outer, d, inner, start, step, count, x.data(), y.data());
        for (int64_t o = 0; o < outer; ++o)
            for (int64_t j = 0; j < count; ++j)
                for (int64_t i = 0; i < inner; ++i)
                    ASSERT_EQ(y[(o * count + j) * inner + i],
                              x[(o * d + start + j * step) * inner + i]);
    }
}

TEST(LayerNorm, OverChannelsAndLastAxisAgainstReference) {
    for (int threads : {1, 2})
        for (auto [outer, d, inner] : {std::array<int64_t, 3>{1, 96, 3136},
                                       {1, 768, 49},
                                       {2, 5, 300},
                                       {197, 384, 1},
                                       {1, 7, 1},
                                       {3, 1, 5}}) {
            use_threads(threads);
            // An offset larger than the spread, as activations have: a one-pass variance
            // would lose it.
            auto x = random_vector(outer * d * inner, 10, 40.f, 44.f);
            auto g = random_vector(d, 11), b = random_vector(d, 12);
            std::vector<float> y(x.size()), ref(x.size());
            layer_norm_f32_cpu(test_pool(), outer, d, inner, g.data(), b.data(), 1e-6f, x.data(),
                               y.data());
            ref::layer_norm(outer, d, inner, g.data(), b.data(), 1e-6f, x.data(), ref.data());
            ASSERT_LE(max_rel_diff(y, ref), 2e-5) << outer << "x" << d << "x" << inner;
        }
    use_threads(hardware_threads());
}

}  // namespace nse::test
