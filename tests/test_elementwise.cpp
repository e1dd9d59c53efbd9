// linear, activations, add, concat and softmax kernels against naive loops.
#include <cstring>

#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/linear.h"
#include "tests/kernel_tester.h"

namespace nse::test {

TEST(Linear, AgainstReference) {
    struct Case {
        int64_t m, in, out;
        Activation act;
    };
    for (Case c : {Case{1, 400, 120, Activation::Relu}, Case{1, 9216, 64, Activation::None},
                   Case{3, 17, 5, Activation::Relu6}, Case{4, 1, 1, Activation::None},
                   Case{1, 4096, 29, Activation::None}, Case{1, 4096, 5, Activation::Relu}}) {
        auto x = random_vector(c.m * c.in, 6), w = random_vector(c.out * c.in, 7);
        auto b = random_vector(c.out, 8);
        std::vector<float> y(c.m * c.out), ref(y.size());
        linear_f32_cpu(test_pool(), c.m, c.in, c.out, x.data(), w.data(), b.data(), c.act,
                       y.data());
        ref::linear(c.m, c.in, c.out, x.data(), w.data(), b.data(), c.act, ref.data());
        EXPECT_LE(max_rel_diff(y, ref), 1e-5) << c.m << "x" << c.in << " -> " << c.out;
    }
}

TEST(Linear, BatchOneRowKernelOverShapesAndThreads) {
    // The batch-1 path streams 8 rows at a time, 16 inputs per step, then a masked tail: inputs
    // below, at and above a multiple of 16, row counts with and without a remainder of 8.
    for (int threads : {1, 2, 3}) {
        use_threads(threads);
        for (int64_t in : {1, 7, 16, 84, 250, 1283, 9216})
            for (int64_t out : {1, 5, 8, 13, 120, 1000}) {
                auto x = random_vector(in, 6), w = random_vector(out * in, 7);
                auto b = random_vector(out, 8);
                std::vector<float> y(out), ref(out);
                linear_f32_cpu(test_pool(), 1, in, out, x.data(), w.data(), b.data(),
                               Activation::None, y.data());
                ref::linear(1, in, out, x.data(), w.data(), b.data(), Activation::None, ref.data());
                ASSERT_LE(max_rel_diff(y, ref), 1e-5) << in << " -> " << out << ", " << threads;
            }
    }
    use_threads(hardware_threads());
}

TEST(Linear, BatchRowsEqualEachRowAloneBitForBit) {
    // The batch path (four rows of W against up to four rows of X at a time) must give each row
    // exactly what the batch-1 path gives it: remainders of rows and of inputs, tails of K.
    for (int threads : {1, 2, 3}) {
        use_threads(threads);
        for (int64_t m : {2, 3, 4, 5, 8, 13})
            for (int64_t in : {1, 16, 84, 1283})
                for (int64_t out : {1, 5, 8, 13, 120}) {
                    auto x = random_vector(m * in, 6), w = random_vector(out * in, 7);
                    auto b = random_vector(out, 8);
                    std::vector<float> y(m * out), alone(out), ref(m * out);
                    linear_f32_cpu(test_pool(), m, in, out, x.data(), w.data(), b.data(),
                                   Activation::Relu, y.data());
                    ref::linear(m, in, out, x.data(), w.data(), b.data(), Activation::Relu,
                                ref.data());
                    ASSERT_LE(max_rel_diff(y, ref), 1e-5) << m << "x" << in << " -> " << out;
                    for (int64_t r = 0; r < m; ++r) {
                        linear_f32_cpu(test_pool(), 1, in, out, x.data() + r * in, w.data(),
                                       b.data(), Activation::Relu, alone.data());
                        ASSERT_EQ(std::memcmp(alone.data(), y.data() + r * out, out * 4), 0)
                            << "row " << r << " of " << m << "x" << in << " -> " << out << ", "
                            << threads << " thread(s)";
                    }
                }
    }
    use_threads(hardware_threads());
}

TEST(Activation, ReluAndRelu6InPlaceAndLarge) {
    for (int64_t n : {1, 7, 100000}) {
        auto x = random_vector(n, 9, -10.f, 10.f);
        std::vector<float> y(n), z = x;
        activation_f32_cpu(test_pool(), n, Activation::Relu6, x.data(), y.data());
        activation_f32_cpu(test_pool(), n, Activation::Relu, z.data(), z.data());
        for (int64_t i = 0; i < n; ++i) {
            ASSERT_EQ(y[i], std::min(std::max(x[i], 0.f), 6.f));
            ASSERT_EQ(z[i], std::max(x[i], 0.f));
        }
    }
}

TEST(Add, WithAndWithoutActivation) {
    for (int64_t n : {3, 50000}) {
        auto a = random_vector(n, 10), b = random_vector(n, 11);
        std::vector<float> y(n), r(n);
        add_f32_cpu(test_pool(), n, a.data(), b.data(), Activation::None, y.data());
        add_f32_cpu(test_pool(), n, a.data(), b.data(), Activation::Relu, r.data());
        for (int64_t i = 0; i < n; ++i) {
            ASSERT_EQ(y[i], a[i] + b[i]);
            ASSERT_EQ(r[i], std::max(a[i] + b[i], 0.f));
        }
    }
}

TEST(Concat, ChannelAxisOfNchw) {
    // [2, 3, 2, 2] ++ [2, 1, 2, 2] along channels.
    auto a = random_vector(2 * 3 * 4, 12), b = random_vector(2 * 1 * 4, 13);
    const int64_t inner[] = {3 * 4, 1 * 4};
    const float* src[] = {a.data(), b.data()};
    std::vector<float> y(2 * 4 * 4);
    concat_f32_cpu(2, 2, inner, src, y.data());
    for (int64_t n = 0; n < 2; ++n)
        for (int64_t c = 0; c < 4; ++c)
            for (int64_t i = 0; i < 4; ++i) {
                float want = c < 3 ? a[(n * 3 + c) * 4 + i] : b[n * 4 + i];
                ASSERT_EQ(y[(n * 4 + c) * 4 + i], want);
            }
}

TEST(Softmax, AgainstReferenceOnEveryAxis) {
    struct Case {
        int64_t outer, dim, inner;
    };
    for (Case c : {Case{1, 1000, 1}, Case{3, 5, 7}, Case{2, 1, 4}}) {
        auto x = random_vector(c.outer * c.dim * c.inner, 14, -20.f, 20.f);
        std::vector<float> y(x.size()), ref(x.size());
        softmax_f32_cpu(c.outer, c.dim, c.inner, x.data(), y.data());
        ref::softmax(c.outer, c.dim, c.inner, x.data(), ref.data());
        EXPECT_LE(max_rel_diff(y, ref), 1e-6);
    }
}

}  // namespace nse::test
