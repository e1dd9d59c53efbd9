// The own packed GEMM (kernels/cpu/packed_gemm.h) against a naive product, and the convolution
// paths that use it against the reference convolution.
#include "kernels/cpu/packed_gemm.h"
#include "kernels/cpu/winograd.h"
#include "tests/kernel_tester.h"

namespace nse::test {

namespace {

// C = act(A B + bias) in double, A M x K, B K x N (row stride ldb).
std::vector<float> naive(int64_t M, int64_t N, int64_t K, const std::vector<float>& a,
                         const std::vector<float>& b, int64_t ldb, const float* bias,
                         Activation act) {
    std::vector<float> c(M * N);
    for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < N; ++j) {
            double s = bias ? bias[i] : 0.0;
            for (int64_t k = 0; k < K; ++k) s += double(a[i * K + k]) * b[k * ldb + j];
            c[i * N + j] = activate(act, float(s));
        }
    return c;
}

using Layout = PackedWeights::Layout;

void check_gemm(int64_t M, int64_t N, int64_t K, Activation act = Activation::None,
                bool bias = true, int64_t pad = 0, Layout layout = Layout::Rows) {
    SCOPED_TRACE("M " + std::to_string(M) + " N " + std::to_string(N) + " K " + std::to_string(K) +
                 " pad " + std::to_string(pad) +
                 (layout == Layout::Columns ? " column panels" : " row panels"));
    const int64_t ldb = N + pad, ldc = N + 2 * pad;
    auto a = random_vector(M * K, 1), b = random_vector(K * ldb, 2), bv = random_vector(M, 3);
    // Shift the data so ReLU6 clips at both ends.
    if (act == Activation::Relu6)
        for (float& v : bv) v = 4.f * v + 2.f;
    const PackedWeights pa(M, K, a.data(), K, layout);
    std::vector<float> c(M * ldc, NAN), ws(packed_gemm_workspace_floats(layout, N, K) + 1);
    packed_gemm(test_pool(), pa, N, b.data(), ldb, bias ? bv.data() : nullptr, act, c.data(), ldc,
                ws.data());
    const auto ref = naive(M, N, K, a, b, ldb, bias ? bv.data() : nullptr, act);
    std::vector<float> got(M * N);
    for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < N; ++j) got[i * N + j] = c[i * ldc + j];
    EXPECT_LE(max_rel_diff(got, ref), 1e-5);
    for (int64_t i = 0; i < M; ++i)  // the columns past N stay untouched
        for (int64_t j = N; j < ldc; ++j) ASSERT_TRUE(std::isnan(c[i * ldc + j]));
}

}  // namespace

TEST(PackedGemm, PanelsOfTwelveRowsWithTheLastPaddedToFourOrEight) {
    std::vector<float> a(13 * 3);
    for (size_t i = 0; i < a.size(); ++i) a[i] = float(i);
    const PackedWeights p(13, 3, a.data(), 3);
    ASSERT_EQ(p.panels(), 2);
    EXPECT_EQ(p.panel_rows(0), 12);
    EXPECT_EQ(p.panel_rows(1), 4);
    EXPECT_EQ(p.panel(0)[1 * 12 + 5], a[5 * 3 + 1]);  // row 5, column 1
    EXPECT_EQ(p.panel(1)[2 * 4 + 0], a[12 * 3 + 2]);  // row 12, column 2
    EXPECT_EQ(p.panel(1)[2 * 4 + 1], 0.f);            // padding
    EXPECT_EQ(PackedWeights(20, 1, a.data(), 1).panel_rows(1), 8);
}

TEST(PackedGemm, MatchesANaiveProductOverShapes) {
    if (!packed_gemm_available())
        GTEST_SKIP() << "SKIPPED: the packed GEMM needs a SIMD path (avx512, avx2, neon)";
    // Rows around the 12-row panels and their 4/8-row tails, columns around the 32-wide tiles
    // and 16-lane masks, last tiles of 1-8 columns (AVX-512: column tails of 1-11 columns alone,
    // 12-16 in one vector, one vector and 1-11 tails up to 27, two vectors from 28), K around
    // the 256-value blocks (a later block adds to C).
    for (int64_t m : {1, 4, 5, 8, 11, 12, 13, 24, 30})
        for (int64_t n :
             {1, 2, 3, 7, 11, 12, 15, 16, 17, 18, 19, 20, 21, 24, 27, 28, 32, 33, 44, 49})
            for (int64_t k : {1, 7, 256, 257}) check_gemm(m, n, k);
    check_gemm(100, 196, 600, Activation::Relu);
    check_gemm(16, 300, 32, Activation::Relu6);
    check_gemm(7, 40, 20, Activation::None, false, 5);  // row strides beyond N, no bias
    check_gemm(800, 20, 300);                           // more rows than one block of panels
    // Columns over several 256-wide blocks of packed B, the last one part-filled, with K over
    // two blocks (a block's later K adds to C) and within one.
    check_gemm(30, 530, 300, Activation::Relu);
    check_gemm(13, 600, 40, Activation::None, true, 3);
    // A short reduction (each row tile written in one sweep over the columns) with the epilogue:
    // panels of 12, 12 and 8 rows (6 live), a last tile of 1-16 columns.
    for (int64_t n : {530, 537, 545}) check_gemm(30, n, 12, Activation::Relu6, n != 537, 2);
}

TEST(PackedGemm, ColumnPanelsForNarrowProducts) {
    // The layout choice: where the row layout's tiles would compute a tenth more columns than
    // 4-wide steps and the reduction is long. AVX2 (tiles of 16): 7x7 maps from 1024 values.
    // AVX-512 (tiles of 32, with a one-vector tile and column tails at a row's end): 49 columns
    // cost 50 and 196 cost 198, so 1x1 layers on 7x7 and 14x14 maps stay in rows; products of an
    // im2col count whole tiles (the column layout gathers its panels and saves the im2col), 7x7
    // and 14x14 maps from 256 values. NEON's row tiles are 8 wide: 49 columns fill them.
    const CpuPath path = cpu_path();
    const bool x86 = path == CpuPath::Avx512 || path == CpuPath::Avx2;
    const bool avx2 = path == CpuPath::Avx2;
    const bool avx512 = path == CpuPath::Avx512;
    EXPECT_EQ(packed_layout_for(512, 49, 4608), avx2 ? Layout::Columns : Layout::Rows);
    EXPECT_EQ(packed_layout_for(512, 49, 4608, true), x86 ? Layout::Columns : Layout::Rows);
    EXPECT_EQ(packed_layout_for(512, 49, 2048), avx2 ? Layout::Columns : Layout::Rows);
    EXPECT_EQ(packed_layout_for(160, 49, 960), Layout::Rows);
    EXPECT_EQ(packed_layout_for(32, 49, 1152, true), x86 ? Layout::Columns : Layout::Rows);
    EXPECT_EQ(packed_layout_for(256, 196, 2304), Layout::Rows);
    EXPECT_EQ(packed_layout_for(256, 196, 2304, true), avx512 ? Layout::Columns : Layout::Rows);
    // 28 columns: a whole tile of 32 on AVX-512 (the rule counts whole tiles on AVX2 and NEON).
    EXPECT_EQ(packed_layout_for(256, 28, 2304),
              path != CpuPath::Generic ? Layout::Columns : Layout::Rows);
    EXPECT_EQ(packed_layout_for(512, 49, 128), Layout::Rows);   // short reduction
    EXPECT_EQ(packed_layout_for(64, 3136, 576), Layout::Rows);  // wide map
    EXPECT_EQ(packed_layout_for(256, 64, 2304), Layout::Rows);  // fills the row layout's tiles
    if (!packed_gemm_rows_available())
        GTEST_SKIP() << "SKIPPED: the column layout needs a SIMD path (avx512, avx2, neon)";
    // Rows around the 32-row panels, columns around the 12/8/4-wide panels (and AVX-512's merged
    // last ones of 13 and 14: 13, 14, 25, 26, 49, 50), any K (the layout computes every shape; the
    // choice above is only about speed).
    for (int threads : {1, 2, 3}) {
        use_threads(threads);
        for (int64_t m : {1, 16, 31, 32, 33, 70})
            for (int64_t n : {1, 3, 4, 5, 8, 11, 12, 13, 14, 15, 25, 26, 49, 50})
                for (int64_t k : {1, 9, 300})
                    check_gemm(m, n, k, Activation::None, true, 0, Layout::Columns);
        check_gemm(64, 49, 600, Activation::Relu, true, 3, Layout::Columns);
        check_gemm(40, 30, 50, Activation::Relu6, false, 0, Layout::Columns);
        check_gemm(40, 30, 50, Activation::Relu6, true, 2, Layout::Columns);  // clips at 0 and 6
        // More B panels (17) than pass a block of A together (16), over three blocks of K.
        check_gemm(70, 200, 600, Activation::Relu, true, 0, Layout::Columns);
    }
    use_threads(hardware_threads());
}

TEST(PackedGemm, SplitsOverThreadsByColumnsOrRows) {
    if (!packed_gemm_available())
        GTEST_SKIP() << "SKIPPED: the packed GEMM needs a SIMD path (avx512, avx2, neon)";
    for (int threads : {1, 2, 3}) {
        use_threads(threads);
        check_gemm(64, 784, 96, Activation::Relu6);  // columns
        check_gemm(320, 49, 160);                    // rows (7x7 maps)
        check_gemm(40, 3000, 8);                     // columns, few panels
        check_gemm(3, 5, 4);                         // inline below the parallel threshold
    }
    use_threads(hardware_threads());
}

TEST(PackedGemm, ConvolutionsOnThePackedPath) {
    if (!packed_gemm_available())
        GTEST_SKIP() << "SKIPPED: the packed GEMM needs a SIMD path (avx512, avx2, neon)";
    EXPECT_FALSE(conv2d_uses_packed_gemm(ConvShape{1, 8, 9, 9, 8, 3, 3, 1, 1, 1, 1, 1, 1, 8}));
    for (int threads : {1, 2}) {
        use_threads(threads);
        ConvTester().in(16, 7, 7).out(24).k(1).packed().check();
        ConvTester().in(32, 28, 28).out(100).k(1).act(Activation::Relu6).packed().check();
        ConvTester().in(8, 9, 9).out(4).k(1).stride(2).packed().check();  // strided: im2col
        ConvTester().in(64, 14, 14).out(70).k(3).pad(1).act(Activation::Relu).packed().check();
        // (more than 64 outputs: AVX2 and NEON would run 64 in the direct path's channel tiles)
        ConvTester().in(64, 7, 7).out(72).k(3).pad(1).act(Activation::Relu).packed().check();
        ConvTester().in(300, 7, 7).out(64).k(1).act(Activation::Relu6).packed().check();
        ConvTester().in(3, 63, 63).out(96).k(11).stride(4).pad(2).packed().check();
        ConvTester().in(64, 56, 56).out(16).k(3).pad(1).packed().check();  // several tiles
        // (groups of 48 inputs and 72 outputs: past the direct path's reach)
        ConvTester().in(96, 8, 8).out(144).k(3).stride(2).pad(1).groups(2).packed().check();
        ConvTester().batch(2).in(8, 6, 6).out(8).k(1).no_bias().packed().check();
    }
    use_threads(hardware_threads());
}

// Convolutions whose weights take the column layout gather their im2col panels straight from
// the input (im2col_panels.h): strides, dilation, groups, padding 0, maps whose last panel is
// 4, 8 or 12 columns wide (more than 64 outputs where the reduction is short enough for the
// direct path). AVX-512 takes columns for all those with an im2col; a 1x1 layer of stride 1,
// a plain GEMM, stays in rows there (its 36 columns cost 38 with a column tail).
TEST(PackedGemm, ColumnLayoutConvolutionsGatherTheirPanels) {
    if (!packed_gemm_available())
        GTEST_SKIP() << "SKIPPED: the packed GEMM needs a SIMD path (avx512, avx2, neon)";
    struct Case {
        int64_t c, h, w, k, r, stride, pad, dil, groups;
    };
    const Case cases[] = {
        {64, 7, 7, 96, 3, 1, 1, 1, 1},     // 49 pixels: panels 12 x 4 + 4
        {32, 14, 14, 96, 3, 2, 1, 1, 1},   // stride 2
        {32, 9, 9, 96, 3, 1, 2, 2, 1},     // dilation 2: 81 pixels
        {96, 7, 7, 192, 3, 1, 1, 1, 2},    // groups (of 48: too wide for the direct path)
        {48, 5, 9, 96, 3, 1, 1, 1, 1},     // 45 pixels: last panel 12 wide, 9 used
        {40, 6, 6, 96, 3, 1, 1, 1, 1},     // 36: three full panels
        {32, 4, 7, 96, 3, 1, 0, 1, 1},     // padding 0: 2 x 5 = 10 pixels
        {300, 6, 6, 64, 1, 1, 0, 1, 1},    // 1x1 with stride 1 stays a plain GEMM
        {288, 12, 12, 32, 1, 2, 0, 1, 1},  // 1x1 stride 2: 36 pixels through im2col
    };
    for (int threads : {1, 2, 3}) {
        use_threads(threads);
        for (const Case& t : cases) {
            const ConvShape sh{1,        t.c,      t.h,   t.w,   t.k,   t.r,   t.r,
                               t.stride, t.stride, t.pad, t.pad, t.dil, t.dil, t.groups};
            if (cpu_path() == CpuPath::Avx512) {
                EXPECT_EQ(
                    packed_layout_for(t.k / t.groups, sh.p() * sh.q(), t.c / t.groups * t.r * t.r,
                                      !sh.pointwise()),
                    sh.pointwise() ? PackedWeights::Layout::Rows : PackedWeights::Layout::Columns)
                    << "c" << t.c << " " << t.h << "x" << t.w;
            }
            ConvTester()
                .in(t.c, t.h, t.w)
                .out(t.k)
                .k(t.r)
                .stride(t.stride)
                .pad(t.pad)
                .dilation(t.dil)
                .groups(t.groups)
                .act(Activation::Relu)
                .packed()
                .check();
        }
    }
    use_threads(hardware_threads());
}

TEST(PackedGemm, ColumnsTheMicroKernelsCompute) {
    using L = PackedWeights::Layout;
    // Tiles 32 columns wide on AVX-512, 16 on AVX2, 8 on NEON; a last one of at most one vector
    // (16, 8, 4 columns) computes that vector only; column tails count 4/3 a column on AVX-512
    // and AVX2 (12 rows in 16 lanes), 1 on NEON (in 12): 49 = 32 + 16 + 1 (AVX-512), 48 + 1
    // (AVX2, NEON); 196 = 6 x 32 + 4, 12 x 16 + 4 (AVX2: 4 tails), 24 x 8 + 4 (NEON: a vector).
    const CpuPath path = cpu_path();
    if (packed_gemm_available()) {
        EXPECT_EQ(packed_gemm_computed_columns(L::Rows, 49), path == CpuPath::Neon ? 49 : 50);
        EXPECT_EQ(packed_gemm_computed_columns(L::Rows, 64), 64);
        EXPECT_EQ(packed_gemm_computed_columns(L::Rows, 196), path == CpuPath::Neon ? 196 : 198);
        if (path == CpuPath::Avx2) {
            EXPECT_EQ(packed_gemm_computed_columns(L::Rows, 16 + 8 + 5), 16 + 8 + 7);
            EXPECT_EQ(packed_gemm_computed_columns(L::Rows, 16 + 14), 32);  // two vectors
        }
    }
    // Column panels of 12, the last 4, 8 or 12 wide; on AVX-512 one or two columns left after a
    // whole panel join it (12 x 3 + 13, not 12 x 4 + 4).
    const bool merged = cpu_path() == CpuPath::Avx512;
    EXPECT_EQ(packed_gemm_computed_columns(L::Columns, 49), merged ? 49 : 52);
    EXPECT_EQ(packed_column_panels(49), merged ? 4 : 5);
    EXPECT_EQ(packed_column_width(49, 3), merged ? 13 : 12);
    EXPECT_EQ(packed_column_cols(49, 3), merged ? 13 : 12);
    EXPECT_EQ(packed_column_width(50, 3), merged ? 14 : 12);
    EXPECT_EQ(packed_column_panels(51), 5);  // 3 left: a panel of 4
    EXPECT_EQ(packed_column_width(51, 4), 4);
    EXPECT_EQ(packed_column_cols(51, 4), 3);
    EXPECT_EQ(packed_column_panels(2), 1);  // nothing before to join
    EXPECT_EQ(packed_gemm_computed_columns(L::Columns, 48), 48);
    // Winograd's products: F(4x4) on 128 channels at 28x28 runs 49 tiles on the packed GEMM
    // (AVX-512: a tile of 32, one of 16 and a column tail; AVX2: three of 16 and a tail); 64
    // channels run on OpenBLAS (nothing padded that the features count), except on AVX2, where
    // a 56x56 map's chunks of 70, 70 and 56 tiles run on the packed GEMM's row layout.
    const ConvShape wide{1, 128, 28, 28, 128, 3, 3, 1, 1, 1, 1};
    const ConvShape narrow{1, 64, 56, 56, 64, 3, 3, 1, 1, 1, 1};
    EXPECT_DOUBLE_EQ(winograd_products_fill(narrow),
                     path == CpuPath::Avx2
                         ? 196.0 / double(2 * packed_gemm_computed_columns(L::Rows, 70) +
                                          packed_gemm_computed_columns(L::Rows, 56))
                         : 1.0);
    if (path == CpuPath::Avx2) {
        EXPECT_LT(winograd_products_fill(narrow), 1.0);
    }
    if (!packed_gemm_available())
        GTEST_SKIP() << "SKIPPED: the generic path runs the products on OpenBLAS";
    EXPECT_DOUBLE_EQ(winograd_products_fill(wide), 49.0 / (path == CpuPath::Neon ? 49.0 : 50.0));
}

}  // namespace nse::test

namespace nse::test {

TEST(CpuPath, NamesDetectionAndRefusals) {
    for (CpuPath p : {CpuPath::Avx512, CpuPath::Avx2, CpuPath::Neon, CpuPath::Generic})
        EXPECT_EQ(parse_cpu_path(cpu_path_name(p)), p);
    EXPECT_FALSE(parse_cpu_path("sse9"));
    EXPECT_FALSE(parse_cpu_path("AVX2"));  // names are lower case, as NSE_CPU takes them
    const auto paths = supported_cpu_paths();
    ASSERT_FALSE(paths.empty());
    EXPECT_EQ(paths.front(), detected_cpu_path());
    EXPECT_EQ(paths.back(), CpuPath::Generic);  // every CPU runs the generic path
#if defined(__x86_64__)
    EXPECT_FALSE(cpu_supports(CpuPath::Neon));
    try {
        set_cpu_path(CpuPath::Neon);
        ADD_FAILURE() << "an x86 CPU accepted the neon path";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
        EXPECT_NE(std::string(e.what()).find("cannot run that path"), std::string::npos);
    }
#endif
}

// The same convolutions on every path this CPU runs, switched inside one process (weights
// packed under the path that runs them), each against the reference; the path in use comes back
// after each scope.
TEST(CpuPath, EveryPathHereComputesTheSameConvolution) {
    const CpuPath before = cpu_path();
    for (CpuPath p : supported_cpu_paths()) {
        SCOPED_TRACE(cpu_path_name(p));
        ScopedCpuPath scope(p);
        EXPECT_EQ(cpu_path(), p);
        EXPECT_EQ(packed_gemm_available(), p != CpuPath::Generic);
        auto conv = [&](ConvTester t) {  // on the own GEMM where the path has one
            if (p != CpuPath::Generic) t.packed();
            t.check();
        };
        conv(ConvTester().in(16, 14, 14).out(80).k(3).pad(1).act(Activation::Relu));
        conv(ConvTester().in(32, 7, 7).out(40).k(1));
        ConvTester().depthwise(8).in(8, 15, 17).k(3).stride(2).pad(1).check();
    }
    EXPECT_EQ(cpu_path(), before);
}

}  // namespace nse::test
