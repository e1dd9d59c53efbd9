// The transformer kernels against their references: the fused attention kernel
// (kernels/cpu/attention.h) over token counts around the vector widths and the 16-column
// padding, head sizes with and without a masked tail, batches, and thread counts that split heads
// and blocks of queries; the token GEMM of linear layers (kernels/cpu/linear.h) over row counts
// around its tiles, and its rows equal however many images share the run.
#include <gtest/gtest.h>

#include <cmath>

#include "base/thread_pool.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/linear.h"
#include "kernels/cpu/tensor_ops.h"
#include "kernels/cpu/unary.h"
#include "kernels/reference/reference.h"
#include "tests/kernel_tester.h"

namespace nse::test {

namespace {
struct Case {
    int64_t batch, L, heads, d, window = 0, masks = 0;  // masks 0: no bias nor mask
};

std::vector<float> run_attention(const Case& c, const std::vector<float>& qkv, float scale,
                                 const float* bias = nullptr, const float* mask = nullptr,
                                 const float* head_scale = nullptr, bool normalize = false) {
    std::vector<float> out(size_t(c.batch * c.L * c.heads * c.d), NAN);
    AttentionShape sh;
    sh.batch = c.batch, sh.tokens = c.L, sh.heads = c.heads, sh.d = c.d, sh.window = c.window;
    std::vector<float> ws(attention_workspace_floats(sh, test_pool().size()));
    AttentionTerms t;
    t.scale = scale;
    t.bias = bias;
    t.mask = mask;
    t.masks = std::max<int64_t>(c.masks, 1);
    t.head_scale = head_scale;
    t.normalize = normalize;
    attention_f32_cpu(test_pool(), sh, t, qkv.data(), out.data(), ws.data());
    return out;
}
}  // namespace

TEST(Attention, AgainstReferenceOverShapesAndThreads) {
    const Case cases[] = {{1, 1, 1, 1},   {1, 5, 2, 3},    {1, 16, 1, 16},  {1, 17, 3, 8},
                          {2, 33, 2, 20}, {1, 50, 12, 64}, {1, 197, 4, 64}, {3, 49, 3, 32},
                          {1, 65, 2, 80}, {1, 7, 5, 17}};
    for (int threads : {1, 2, 3})
        for (const Case& c : cases) {
            use_threads(threads);
            // Scores of several units apart, as trained attention has: a softmax that lost its
            // shift by the row maximum would overflow or flatten.
            auto qkv = random_vector(size_t(c.batch * c.L * 3 * c.heads * c.d), 21, -2.f, 2.f);
            const float scale = 1.f / std::sqrt(float(c.d));
            std::vector<float> ref(size_t(c.batch * c.L * c.heads * c.d));
            ref::attention(c.batch, c.L, c.heads, c.d, 0, scale, qkv.data(), nullptr, nullptr, 1,
                           ref.data());
            const auto out = run_attention(c, qkv, scale);
            ASSERT_LE(max_rel_diff(out, ref), 2e-5)
                << cpu_path_name(cpu_path()) << " batch " << c.batch << " L " << c.L << " heads "
                << c.heads << " d " << c.d << " threads " << threads;
        }
    use_threads(hardware_threads());
}

TEST(Attention, SameResultHoweverSplit) {
    // One image of a batch equals that image alone, and one thread equals three, bit for bit
    // (a request batched in the cloud gets the answer it would get alone).
    const Case one{1, 77, 6, 32}, two{2, 77, 6, 32};
    auto qkv = random_vector(size_t(two.batch * two.L * 3 * two.heads * two.d), 22);
    const float scale = 0.125f;
    use_threads(1);
    const auto alone = run_attention(one, qkv, scale);
    use_threads(3);
    const auto batched = run_attention(two, qkv, scale);
    for (size_t i = 0; i < alone.size(); ++i) ASSERT_EQ(alone[i], batched[i]) << i;
    use_threads(hardware_threads());
}

TEST(Attention, WindowsWithBiasAndMaskAgainstReference) {
    // Swin's shape: windows of w tokens attend within themselves, a bias per head and a mask per
    // window (-100 where a shifted window joins regions, as torchvision writes it).
    const Case cases[] = {{1, 4 * 49, 3, 32, 49, 4},
                          {2, 3 * 16, 2, 16, 16, 3},
                          {1, 2 * 9, 4, 8, 9, 1},
                          {1, 6 * 7, 1, 20, 7, 2},
                          {3, 2 * 25, 2, 24, 25, 2}};
    for (int threads : {1, 3})
        for (const Case& c : cases) {
            use_threads(threads);
            auto qkv = random_vector(size_t(c.batch * c.L * 3 * c.heads * c.d), 24, -2.f, 2.f);
            const auto bias = random_vector(size_t(c.heads * c.window * c.window), 25, -3.f, 3.f);
            auto mask = random_vector(size_t(c.masks * c.window * c.window), 26);
            for (float& m : mask) m = m > 0.3f ? -100.f : 0.f;
            const float scale = 1.f / std::sqrt(float(c.d));
            std::vector<float> ref(size_t(c.batch * c.L * c.heads * c.d));
            ref::attention(c.batch, c.L, c.heads, c.d, c.window, scale, qkv.data(), bias.data(),
                           mask.data(), c.masks, ref.data());
            const auto out = run_attention(c, qkv, scale, bias.data(), mask.data());
            ASSERT_LE(max_rel_diff(out, ref), 2e-5)
                << cpu_path_name(cpu_path()) << " batch " << c.batch << " windows of " << c.window
                << " heads " << c.heads << " d " << c.d << " threads " << threads;
        }
    use_threads(hardware_threads());
}

TEST(Attention, CosineAttentionWithHeadScalesAgainstReference) {
    // Swin V2: q and k normalised, a scale per head (up to 100), a bias, windows.
    const Case cases[] = {
        {1, 4 * 49, 3, 32, 49, 4}, {2, 3 * 16, 2, 16, 16, 3}, {1, 17, 5, 9, 0, 0}};
    for (const Case& c : cases) {
        auto qkv = random_vector(size_t(c.batch * c.L * 3 * c.heads * c.d), 27, -2.f, 2.f);
        const int64_t w = c.window ? c.window : c.L;
        const auto bias = random_vector(size_t(c.heads * w * w), 28, 0.f, 16.f);
        const auto scales = random_vector(size_t(c.heads), 29, 1.f, 100.f);
        std::vector<float> mask(size_t(std::max<int64_t>(c.masks, 1) * w * w), 0.f);
        for (size_t i = 0; i < mask.size(); i += 7) mask[i] = -100.f;
        std::vector<float> ref(size_t(c.batch * c.L * c.heads * c.d));
        ref::attention(c.batch, c.L, c.heads, c.d, c.window, 0.f, qkv.data(), bias.data(),
                       mask.data(), std::max<int64_t>(c.masks, 1), ref.data(), scales.data(), true);
        const auto out = run_attention(c, qkv, 0.f, bias.data(), mask.data(), scales.data(), true);
        ASSERT_LE(max_rel_diff(out, ref), 2e-5)
            << cpu_path_name(cpu_path()) << " windows of " << w << " heads " << c.heads;
    }
}

TEST(Attention, LargeScoresStayFinite) {
    // Scores near +-80 (saturated attention): the row maximum is subtracted before exp.
    const Case c{1, 40, 2, 16};
    auto qkv = random_vector(size_t(c.L * 3 * c.heads * c.d), 23, -3.f, 3.f);
    std::vector<float> ref(size_t(c.L * c.heads * c.d));
    ref::attention(c.batch, c.L, c.heads, c.d, 0, 2.f, qkv.data(), nullptr, nullptr, 1, ref.data());
    const auto out = run_attention(c, qkv, 2.f);
    for (float v : out) ASSERT_TRUE(std::isfinite(v));
    ASSERT_LE(max_rel_diff(out, ref), 2e-5);
}

namespace {
std::vector<float> run_tokens(int64_t m, int64_t in, int64_t out, const std::vector<float>& x,
                              const std::vector<float>& w, const std::vector<float>& b,
                              Activation act, int64_t layout_rows, bool gelu = false) {
    const PackedWeights packed(out, in, w.data(), in, linear_tokens_layout(layout_rows, in, out));
    std::vector<float> y(size_t(m * out), NAN);
    std::vector<float> ws(linear_tokens_workspace_floats(packed, m));
    linear_tokens_f32_cpu(test_pool(), m, packed, x.data(), b.data(), act, gelu, y.data(),
                          ws.data());
    return y;
}
}  // namespace

TEST(Transpose, EveryShapeAndThreadCount) {
    // Blocks of 64, tiles of 8 (AVX2) or 4 (NEON) transposed in registers, ragged edges.
    for (int threads : {1, 2, 3}) {
        use_threads(threads);
        for (auto [rows, cols] : {std::pair<int64_t, int64_t>{1, 1},
                                  {7, 9},
                                  {8, 8},
                                  {64, 64},
                                  {65, 130},
                                  {200, 3},
                                  {3136, 96}}) {
            const auto x = random_vector(size_t(rows * cols), 41);
            std::vector<float> y(x.size(), NAN);
            transpose_f32_cpu(test_pool(), rows, cols, x.data(), y.data());
            for (int64_t r = 0; r < rows; ++r)
                for (int64_t c = 0; c < cols; ++c)
                    ASSERT_EQ(y[size_t(c * rows + r)], x[size_t(r * cols + c)])
                        << rows << "x" << cols << " at " << r << "," << c;
        }
    }
    use_threads(hardware_threads());
}

TEST(LinearTokens, AgainstReferenceOverShapesAndThreads) {
    if (!packed_gemm_available()) GTEST_SKIP() << "no packed GEMM on the generic path";
    struct Case {
        int64_t m, in, out;
        Activation act;
    };
    const Case cases[] = {{8, 16, 8, Activation::None},      {17, 33, 29, Activation::Relu},
                          {50, 768, 96, Activation::None},   {197, 192, 576, Activation::None},
                          {49, 384, 1536, Activation::Relu}, {64, 100, 7, Activation::Relu6},
                          {300, 12, 40, Activation::None}};
    for (int threads : {1, 2, 3})
        for (const Case& c : cases) {
            use_threads(threads);
            auto x = random_vector(size_t(c.m * c.in), 31),
                 w = random_vector(size_t(c.out * c.in), 32);
            auto b = random_vector(size_t(c.out), 33);
            std::vector<float> ref(size_t(c.m * c.out));
            ref::linear(c.m, c.in, c.out, x.data(), w.data(), b.data(), c.act, ref.data());
            ASSERT_LE(max_rel_diff(run_tokens(c.m, c.in, c.out, x, w, b, c.act, c.m), ref), 1e-5)
                << cpu_path_name(cpu_path()) << " " << c.m << " rows " << c.in << " -> " << c.out
                << " threads " << threads;
        }
    use_threads(hardware_threads());
}

TEST(LinearTokens, FusedGeluEqualsTheUnaryKernelAfter) {
    if (!packed_gemm_available()) GTEST_SKIP() << "no packed GEMM on the generic path";
    // The MLP's first layer with GELU fused: the same bits as the layer, then the GELU kernel
    // (a reduction of 256 takes the column layout on every SIMD path, 64 only on AVX-512).
    for (int64_t m : {8, 50, 197})
        for (int64_t out : {20, 96, 3072 / 4})
            for (int64_t in : {64, 256}) {
                auto x = random_vector(size_t(m * in), 37, -3.f, 3.f);
                auto w = random_vector(size_t(out * in), 38), b = random_vector(size_t(out), 39);
                auto plain = run_tokens(m, in, out, x, w, b, Activation::None, m);
                unary_f32_cpu(test_pool(), int64_t(plain.size()), UnaryOp::Gelu, plain.data(),
                              plain.data());
                const auto fused = run_tokens(m, in, out, x, w, b, Activation::None, m, true);
                for (size_t i = 0; i < fused.size(); ++i)
                    ASSERT_EQ(fused[i], plain[i])
                        << m << " rows " << in << " -> " << out << " at " << i;
            }
}

TEST(LinearTokens, RowsOfABatchEqualTheImageAloneBitForBit) {
    if (!packed_gemm_available()) GTEST_SKIP() << "no packed GEMM on the generic path";
    // The layout is chosen for one image's rows and kept; three images' rows are more columns.
    for (int64_t rows : {49, 50, 197})
        for (int64_t in : {64, 384})
            for (int64_t out : {96, 1152}) {
                auto x = random_vector(size_t(3 * rows * in), 34),
                     w = random_vector(size_t(out * in), 35);
                auto b = random_vector(size_t(out), 36);
                use_threads(1);
                const auto alone = run_tokens(rows, in, out, x, w, b, Activation::None, rows);
                use_threads(3);
                const auto batch = run_tokens(3 * rows, in, out, x, w, b, Activation::None, rows);
                for (size_t i = 0; i < alone.size(); ++i)
                    ASSERT_EQ(alone[i], batch[i]) << rows << " rows " << in << " -> " << out;
            }
    use_threads(hardware_threads());
}

TEST(Windows, PartitionAgainstReferenceAndReverseRoundTrips) {
    // Maps that fill their windows and maps that need padding, shifted and not.
    struct Case {
        int64_t n, h, w, c, wh, ww, sh, sw;
    };
    const Case cases[] = {{1, 14, 14, 8, 7, 7, 3, 3},
                          {2, 8, 8, 5, 4, 4, 0, 0},
                          {1, 9, 13, 3, 7, 7, 3, 3},
                          {1, 5, 6, 16, 8, 8, 4, 4},
                          {3, 12, 10, 4, 6, 5, 2, 1}};
    for (int threads : {1, 3})
        for (const Case& c : cases) {
            use_threads(threads);
            const auto x = random_vector(size_t(c.n * c.h * c.w * c.c), 41);
            const int64_t hp = (c.h + c.wh - 1) / c.wh * c.wh, wp = (c.w + c.ww - 1) / c.ww * c.ww;
            std::vector<float> win(size_t(c.n * hp * wp * c.c), NAN), ref(win.size());
            std::vector<float> back(x.size(), NAN);
            const WindowShape sh{c.n, c.h, c.w, c.c, c.wh, c.ww, c.sh, c.sw};
            window_copy_f32_cpu(test_pool(), sh, false, x.data(), win.data());
            ref::window_partition(c.n, c.h, c.w, c.c, c.wh, c.ww, c.sh, c.sw, x.data(), ref.data());
            ASSERT_EQ(win, ref) << c.h << "x" << c.w << " windows " << c.wh << "x" << c.ww;
            window_copy_f32_cpu(test_pool(), sh, true, win.data(), back.data());
            ASSERT_EQ(back, x) << c.h << "x" << c.w << " windows " << c.wh << "x" << c.ww;
        }
    use_threads(hardware_threads());
}

}  // namespace nse::test
