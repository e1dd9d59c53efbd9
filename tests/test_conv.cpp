// conv2d CPU kernels (im2col + GEMM, 1x1 GEMM, depthwise) against the naive reference.
#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/depthwise_direct.h"
#include "kernels/cpu/direct_conv.h"
#include "tests/kernel_tester.h"

namespace nse::test {

TEST(Conv2d, GeneralShapes) {
    ConvTester().in(3, 7, 9).out(5).k(3).check();
    ConvTester().in(3, 7, 9).out(5).k(3).pad(1).check();
    ConvTester().in(4, 13, 11).out(6).k(5).stride(2).pad(2).check();
    ConvTester().in(2, 17, 17).out(3).k(3).stride(2).check();
    ConvTester().in(5, 9, 10).out(4).k(3, 5).pad(1, 2).check();
    ConvTester().in(3, 15, 15).out(4).k(3).dilation(2).pad(2).check();
    ConvTester().in(3, 16, 12).out(4).k(2).stride(2, 1).check();
    ConvTester().in(1, 28, 28).out(6).k(5).pad(2).act(Activation::Relu).check();
    ConvTester().in(6, 14, 14).out(16).k(5).act(Activation::Relu6).check();
    ConvTester().in(3, 5, 5).out(2).k(5).no_bias().check();  // kernel covers the input
}

TEST(Conv2d, AlexNetFirstLayer11x11Stride4) {
    ConvTester().in(3, 63, 63).out(8).k(11).stride(4).pad(2).act(Activation::Relu).check();
    // Rows of more than 16 strided values (im2col gathers them 16 at a time), ragged ends.
    ConvTester().in(3, 40, 227).out(8).k(11).stride(4).pad(2).check();
    ConvTester().in(2, 20, 100).out(80).k(3).stride(3).dilation(2).pad(1).check();
}

TEST(Conv2d, LargeLayerUsesSeveralIm2colTiles) {
    // 64 * 9 rows x 56 * 56 columns is larger than one im2col tile.
    ConvTester().in(64, 56, 56).out(16).k(3).pad(1).check();
}

TEST(Conv2d, Groups) {
    ConvTester().in(4, 9, 9).out(6).k(3).pad(1).groups(2).check();
    ConvTester().in(6, 8, 8).out(9).k(3).stride(2).pad(1).groups(3).check();
    ConvTester().in(8, 7, 7).out(8).k(1).groups(4).check();
}

TEST(Conv2d, GroupedOnTheDirectPathAndBeyondIt) {
    // ResNeXt's and RegNet's grouped 3x3 layers: groups of 4 to 64 channels (one to four 16-wide
    // vectors of outputs per group, a partial last vector), both strides, 7x7 to 28x28 maps,
    // dilation; and groups too wide for the direct path (72: the GEMM per group; 48 to 64 where
    // they do not run in channel tiles: 9 x 48 > 400 inputs).
    for (int64_t width : {4, 8, 16, 24, 32, 44, 48, 56, 64, 72})
        for (int64_t groups : {2, 5})
            for (int64_t stride : {1, 2})
                for (int64_t hw : {7, 14, 28})
                    ConvTester()
                        .in(width * groups, hw, hw)
                        .out(width * groups)
                        .k(3)
                        .pad(1)
                        .stride(stride)
                        .groups(groups)
                        .act(Activation::Relu)
                        .check();
    ConvTester().in(32, 12, 12).out(64).k(3).pad(2).dilation(2).groups(8).check();
    ConvTester().in(8, 9, 9).out(12).k(5).pad(2).groups(4).check();  // 3 outputs per group
}

TEST(Conv2d, GroupedInChannelVectorsAndInPixelTiles) {
    // Each vector path runs a group either in pixel tiles (the implicit GEMM) or in channel
    // vectors (direct_conv.h), whichever fills more of its multiply-adds: both are met here, over
    // tiles that span rows and end part-filled, several threads splitting the map, a batch,
    // dilation and stride 3 (three column phases).
    auto shape = [](int64_t width, int64_t hw) {
        return ConvShape{1, 4 * width, hw, hw, 4 * width, 3, 3, 1, 1, 1, 1, 1, 1, 4};
    };
    const bool simd = cpu_path() != CpuPath::Generic;
    EXPECT_EQ(direct_conv_channel_tiling(shape(16, 7)), simd);  // RegNetX's 25 groups of 16
    // RegNetY's groups of 8: a whole vector on AVX2, two on NEON, half of one on AVX-512.
    EXPECT_EQ(direct_conv_channel_tiling(shape(8, 28)), simd && cpu_path() != CpuPath::Avx512);
    // ResNeXt's groups of 4: half a vector on AVX2, a whole one on NEON.
    EXPECT_EQ(direct_conv_channel_tiling(shape(4, 56)), cpu_path() == CpuPath::Neon);
    EXPECT_FALSE(direct_conv_channel_tiling(shape(24, 32)));    // 24 rows and 32 pixels: full
    EXPECT_EQ(direct_conv_channel_tiling(shape(56, 7)), simd);  // RegNetY-8GF's 504 values
    // AlexNet's stem: 64 channels in chunks, 363 taps; MobileNetV2's 27-tap stem stays in pixel
    // tiles, whose outputs go out a vector at a time.
    EXPECT_EQ(direct_conv_channel_tiling(ConvShape{1, 3, 224, 224, 64, 11, 11, 4, 4, 2, 2}), simd);
    EXPECT_FALSE(direct_conv_channel_tiling(ConvShape{1, 3, 224, 224, 32, 3, 3, 2, 2, 1, 1}));
    for (int threads : {1, 2, 3}) {
        use_threads(threads);
        // 40: a chunk of 2 vectors and one of 3 (AVX2); 56: 504 values, past the pixel tiles'
        // reach (AVX-512: a chunk of 1 vector and one of 3 at 56 and 64).
        for (int64_t width : {8, 16, 24, 32, 40, 56, 64})
            for (int64_t hw : {5, 9, 13})
                ConvTester()
                    .batch(hw == 9 ? 2 : 1)
                    .in(3 * width, hw, hw + 2)
                    .out(3 * width)
                    .k(3)
                    .pad(1)
                    .groups(3)
                    .act(hw == 13 ? Activation::Relu6 : Activation::None)
                    .check();
        ConvTester().in(32, 11, 10).out(32).k(3).pad(2).dilation(2).groups(2).check();
        ConvTester().in(24, 13, 12).out(24).k(3).stride(3).pad(1).groups(3).no_bias().check();
        ConvTester().in(40, 8, 8).out(40).k(5).stride(2).pad(2).groups(4).check();  // 10 per group
        ConvTester().in(3, 47, 45).out(64).k(11).stride(4).pad(2).check();  // 4 chunks (AVX2)
    }
    use_threads(hardware_threads());
}

TEST(Conv2d, Pointwise) {
    ConvTester().in(16, 7, 7).out(24).k(1).check();
    ConvTester().in(3, 5, 11).out(1).k(1).act(Activation::Relu6).check();
    ConvTester().in(8, 9, 9).out(4).k(1).stride(2).check();  // strided 1x1 goes through im2col
    ConvTester().in(8, 5, 5).out(4).k(1).pad(1).check();
}

TEST(Conv2d, OneByOneMapsRunAsMatrixVectorProducts) {
    // Squeeze-and-excitation's layers: a 1x1 map, one matrix-vector product per image on the
    // fully connected layers' kernel, weights split over the threads; the shapes around it stay.
    EXPECT_TRUE(conv2d_matrix_vector(ConvShape{1, 960, 1, 1, 240, 1, 1}));
    EXPECT_FALSE(conv2d_uses_packed_gemm(ConvShape{1, 960, 1, 1, 240, 1, 1}));
    EXPECT_FALSE(conv2d_matrix_vector(ConvShape{1, 960, 1, 1, 240, 1, 1, 1, 1, 0, 0, 1, 1, 2}));
    EXPECT_FALSE(conv2d_matrix_vector(ConvShape{1, 960, 2, 2, 240, 1, 1}));
    EXPECT_FALSE(conv2d_matrix_vector(ConvShape{1, 960, 1, 1, 240, 3, 3, 1, 1, 1, 1}));
    for (int threads : {1, 2, 3}) {
        use_threads(threads);
        ConvTester().in(960, 1, 1).out(240).k(1).act(Activation::Relu).check();
        ConvTester().in(240, 1, 1).out(960).k(1).check();
        ConvTester().batch(5).in(72, 1, 1).out(24).k(1).act(Activation::Relu6).check();
        ConvTester().batch(2).in(40, 1, 1).out(1000).k(1).no_bias().check();
        ConvTester().in(3, 1, 1).out(5).k(1).check();
    }
    use_threads(hardware_threads());
}

TEST(Conv2d, Depthwise) {
    for (int64_t stride : {1, 2, 3})
        for (int64_t size : {5, 8, 13, 17})
            for (int64_t pad : {0, 1})
                ConvTester()
                    .depthwise(7)
                    .in(7, size, size + 1)
                    .k(3)
                    .stride(stride)
                    .pad(pad)
                    .check();
    ConvTester().depthwise(32).in(32, 112, 112).k(3).pad(1).act(Activation::Relu6).check();
    ConvTester().depthwise(4).in(4, 11, 11).k(5).pad(2).stride(2).check();
    ConvTester().depthwise(3).in(3, 12, 12).k(3).pad(2).dilation(2).check();
    ConvTester().depthwise(5).in(5, 9, 7).k(3, 1).pad(1, 0).check();
}

TEST(Conv2d, Depthwise5x5And7x7OverSizesStridesAndDilations) {
    // The unrolled plane kernels (EfficientNet's 5x5, ConvNeXt's 7x7): rows shorter and longer
    // than a vector, both strides, dilation, the 7x7 with and without padding.
    for (int64_t k : {5, 7})
        for (int64_t size : {7, 14, 17, 56})
            for (int64_t stride : {1, 2})
                for (int64_t dil : {1, 2}) {
                    if ((k - 1) * dil + 1 > size + k - 1) continue;
                    ConvTester()
                        .depthwise(6)
                        .in(6, size, size + 3)
                        .k(k)
                        .stride(stride)
                        .dilation(dil)
                        .pad(dil * (k / 2))
                        .act(Activation::Relu)
                        .check();
                }
    ConvTester().depthwise(3).in(3, 9, 9).k(7).check();         // no padding: a 3x3 output
    ConvTester().depthwise(2).in(2, 4, 4).k(7).pad(3).check();  // a map smaller than the filter
}

TEST(Conv2d, Depthwise3x3BlocksOverRowAndColumnEdges) {
    auto shape = [](int64_t hw, int64_t stride, int64_t pad, int64_t dil) {
        return ConvShape{1, 8, hw, hw, 8, 3, 3, stride, stride, pad, pad, dil, dil, 8};
    };
    // (every path with own vector kernels: avx512, avx2, neon)
    EXPECT_EQ(depthwise_direct_applies(shape(56, 1, 1, 1)), cpu_path() != CpuPath::Generic);
    EXPECT_EQ(depthwise_direct_applies(shape(112, 2, 0, 1)), cpu_path() != CpuPath::Generic);
    EXPECT_FALSE(depthwise_direct_applies(shape(56, 3, 1, 1)));  // stride 3
    EXPECT_FALSE(depthwise_direct_applies(shape(56, 1, 2, 1)));  // padding 2
    EXPECT_FALSE(depthwise_direct_applies(shape(56, 1, 1, 2)));  // dilated
    // Output widths of one to seven AVX-512 vectors (blocks of 8x1, 4x2, 2x3 and 2x4 vectors, the
    // last block of a row partly past it; 1 to 15 AVX2 vectors, up to 29 NEON ones), heights that
    // leave a partial block of rows, both strides and paddings, every activation.
    const int64_t sizes[][2] = {{7, 7},   {9, 14},  {15, 17}, {28, 28}, {11, 33},
                                {19, 47}, {56, 56}, {13, 70}, {5, 112}, {112, 113}};
    for (int64_t stride : {1, 2})
        for (int64_t pad : {0, 1})
            for (const auto& hw : sizes)
                for (Activation act : {Activation::None, Activation::Relu, Activation::Relu6})
                    ConvTester()
                        .depthwise(3)
                        .in(3, hw[0], hw[1])
                        .k(3)
                        .stride(stride)
                        .pad(pad)
                        .act(act)
                        .check();
    ConvTester().depthwise(4).in(4, 20, 20).k(3).pad(1).no_bias().check();
    ConvTester().depthwise(5).in(5, 10, 10).k(3).stride(2).pad(1, 0).check();  // unequal pads
}

TEST(Conv2d, Depthwise5x5And7x7BlocksOverRowAndColumnEdges) {
    // The vector paths run these from a padded copy of each plane (depthwise_direct.h), the
    // generic one by the plane kernels: rows of one to several vectors, heights leaving a partial
    // block of rows, paddings from none to half the filter, both strides, activations.
    const bool simd = cpu_path() != CpuPath::Generic;
    EXPECT_EQ(depthwise_direct_applies(ConvShape{1, 8, 14, 14, 8, 5, 5, 2, 2, 2, 2, 1, 1, 8}),
              simd);
    EXPECT_EQ(depthwise_direct_applies(ConvShape{1, 8, 14, 14, 8, 7, 7, 1, 1, 3, 3, 1, 1, 8}),
              simd);
    EXPECT_FALSE(depthwise_direct_applies(ConvShape{1, 8, 14, 14, 8, 5, 5, 1, 1, 3, 3, 1, 1, 8}));
    EXPECT_FALSE(depthwise_direct_applies(ConvShape{1, 8, 14, 14, 8, 5, 3, 1, 1, 2, 1, 1, 1, 8}));
    const int64_t sizes[][2] = {{7, 7}, {9, 14}, {15, 17}, {28, 28}, {11, 33}, {6, 57}};
    for (int64_t k : {5, 7})
        for (int64_t stride : {1, 2})
            for (int64_t pad : {int64_t(0), int64_t(1), k / 2})
                for (const auto& hw : sizes) {
                    if (hw[0] + 2 * pad < k) continue;
                    ConvTester()
                        .depthwise(3)
                        .in(3, hw[0], hw[1])
                        .k(k)
                        .stride(stride)
                        .pad(pad)
                        .act(pad == 1 ? Activation::Relu6 : Activation::None)
                        .check();
                }
    ConvTester().depthwise(4).in(4, 20, 20).k(5).pad(2).no_bias().check();
    ConvTester().batch(2).depthwise(6).in(6, 10, 10).k(7).stride(2).pad(3).check();
}

TEST(Conv2d, DepthwiseRowVectorsCountTheBlocksThePathRuns) {
    // The cost model's vector multiply-adds per tap and output row of one channel: channels
    // interleaved in the lanes share a vector (AVX-512 5x5: a 7x7 map's row is half of one block
    // of 8 columns x 16 channels, a 14x14 map's one of 16; AVX2: 8 lanes, blocks of 8; NEON: 4
    // lanes, blocks of 8), AVX-512's 3x3 kernel and the plane kernels run a row of one plane in
    // whole vectors.
    auto dw = [](int64_t hw, int64_t k) {
        return ConvShape{1, 64, hw, hw, 64, k, k, 1, 1, k / 2, k / 2, 1, 1, 64};
    };
    const CpuPath path = cpu_path();
    const double at7 = path == CpuPath::Avx512 ? 0.5 : path == CpuPath::Neon ? 2.0 : 1.0;
    EXPECT_DOUBLE_EQ(depthwise_direct_row_vectors(dw(7, 5)), at7);
    if (path == CpuPath::Avx512) {
        EXPECT_DOUBLE_EQ(depthwise_direct_row_vectors(dw(14, 5)), 1.0);
        EXPECT_DOUBLE_EQ(depthwise_direct_row_vectors(dw(7, 3)), 1.0);
        EXPECT_DOUBLE_EQ(depthwise_direct_row_vectors(dw(56, 3)), 4.0);
    }
    if (path == CpuPath::Avx2) {
        EXPECT_DOUBLE_EQ(depthwise_direct_row_vectors(dw(14, 3)), 2.0);
    }
    if (path == CpuPath::Generic) {
        EXPECT_DOUBLE_EQ(depthwise_direct_row_vectors(dw(28, 3)), 2.0);
    }
}

TEST(Conv2d, DepthwiseChannelGroupsOverEveryEdge) {
    // The vector paths run a depthwise layer's channels in groups of a vector's lanes (8, 4, 16
    // on AVX-512, there 5x5 and 7x7 only), interleaved (simd/depthwise_body.h): channel counts
    // with and without planes left over, a batch (no group spans two images), maps narrower than
    // a tile, between tiles and wider than a block of 8 (16) outputs, AVX-512's rows in blocks of
    // 8 where 16 would pad them much more (8, 18 and 7 outputs wide) and of 16 (13, 31), both
    // strides, every filter size and padding, and the planes split over threads at channels that
    // cut groups.
    for (int threads : {1, 3}) {
        use_threads(threads);
        for (int64_t channels : {8, 19, 40})
            for (int64_t k : {3, 5, 7})
                for (int64_t stride : {1, 2})
                    for (int64_t pad : {k / 2, k == 3 ? int64_t(0) : int64_t(1)})
                        for (int64_t hw : {7, 12, 17, 30})
                            ConvTester()
                                .batch(2)
                                .depthwise(channels)
                                .in(channels, hw, hw + 1)
                                .k(k)
                                .stride(stride)
                                .pad(pad)
                                .act(hw == 12 ? Activation::Relu6 : Activation::Relu)
                                .check();
    }
    use_threads(hardware_threads());
}

TEST(Conv2d, Batch) {
    ConvTester().batch(3).in(3, 9, 9).out(4).k(3).pad(1).check();
    ConvTester().batch(2).in(8, 6, 6).out(8).k(1).check();
    ConvTester().batch(2).depthwise(6).in(6, 10, 10).k(3).stride(2).pad(1).check();
}

TEST(Conv2d, SingleAndManyThreads) {
    for (int threads : {1, 2, 3}) {
        use_threads(threads);
        ConvTester().in(8, 20, 20).out(8).k(3).pad(1).check();
        ConvTester().depthwise(9).in(9, 15, 15).k(3).stride(2).pad(1).check();
        // Each way the GEMMs split: rows for few columns and many rows (14x14 x 384, 7x7 x 256),
        // columns for large maps, one block inline below ~1 MFLOP; depthwise above its threshold.
        ConvTester().in(64, 14, 14).out(384).k(1).act(Activation::Relu6).check();
        ConvTester().in(32, 7, 7).out(256).k(3).pad(1).check();
        ConvTester().in(16, 56, 56).out(64).k(3).pad(1).check();
        ConvTester().in(3, 5, 11).out(2).k(1).check();
        ConvTester().depthwise(96).in(96, 28, 28).k(3).pad(1).act(Activation::Relu6).check();
    }
    use_threads(hardware_threads());
}

}  // namespace nse::test

namespace nse::test {

TEST(Winograd, AppliesToUnitStride3x3WithEnoughChannelsOnly) {
    auto shape = [](int64_t c, int64_t k, int64_t hw, int64_t r, int64_t stride, int64_t dil,
                    int64_t groups) {
        return ConvShape{1, c, hw, hw, k, r, r, stride, stride, 1, 1, dil, dil, groups};
    };
    EXPECT_TRUE(winograd_applies(shape(16, 16, 17, 3, 1, 1, 1)));  // 5 x 5 tiles
    EXPECT_TRUE(winograd_applies(shape(512, 512, 28, 3, 1, 1, 1)));
    EXPECT_FALSE(winograd_applies(shape(64, 64, 56, 3, 2, 1, 1)));  // strided
    EXPECT_FALSE(winograd_applies(shape(64, 64, 56, 3, 1, 2, 1)));  // dilated
    EXPECT_FALSE(winograd_applies(shape(64, 64, 56, 3, 1, 1, 2)));  // grouped
    EXPECT_FALSE(winograd_applies(shape(64, 64, 56, 5, 1, 1, 1)));  // 5x5
    EXPECT_FALSE(winograd_applies(shape(3, 64, 224, 3, 1, 1, 1)));  // RGB input
    EXPECT_FALSE(winograd_applies(shape(64, 8, 56, 3, 1, 1, 1)));   // few outputs
    EXPECT_FALSE(winograd_applies(shape(64, 64, 16, 3, 1, 1, 1)));  // 4 x 4 tiles, few channels
    // AVX2 and NEON take F(2x2) from 16 tiles, AVX-512 from 36.
    const bool narrow = cpu_path() == CpuPath::Avx2 || cpu_path() == CpuPath::Neon;
    EXPECT_EQ(winograd_tile(shape(64, 64, 17, 3, 1, 1, 1)), 4);
    EXPECT_EQ(winograd_tile(shape(512, 512, 14, 3, 1, 1, 1)), 2);  // 7 x 7 tiles of 2x2
    EXPECT_EQ(winograd_tile(shape(128, 128, 12, 3, 1, 1, 1)), 2);  // 6 x 6
    EXPECT_EQ(winograd_tile(shape(128, 128, 10, 3, 1, 1, 1)), narrow ? 2 : 0);  // 5 x 5 tiles
    // 4 x 4 tiles of 2x2 (ResNet's 7x7 maps): one AVX2 micro-tile of products, half an AVX-512 one.
    EXPECT_EQ(winograd_tile(shape(512, 512, 7, 3, 1, 1, 1)), narrow ? 2 : 0);
    EXPECT_EQ(winograd_tile(shape(512, 512, 5, 3, 1, 1, 1)), 0);  // 3 x 3 tiles
    EXPECT_EQ(winograd_tile(shape(96, 512, 14, 3, 1, 1, 1)), 0);  // few input channels
}

// F(4x4, 3x3) against the naive direct convolution: every way a map can end inside a 4x4 tile
// (outputs 18..25), padding 0 and 1, activations, bias or not, batch, rectangular maps
// (tolerance: ConvTester::kWinogradTolerance).
TEST(Winograd, MatchesTheReferenceOverShapes) {
    for (int64_t size : {20, 21, 22, 23, 24, 25})
        for (int64_t pad : {0, 1})
            ConvTester().winograd().in(16, size, size).out(24).k(3).pad(pad).check();
    ConvTester().winograd().in(24, 17, 39).out(16).k(3).pad(1).act(Activation::Relu).check();
    ConvTester().winograd().in(32, 22, 22).out(16).k(3).pad(1).act(Activation::Relu6).check();
    ConvTester().winograd().in(16, 22, 22).out(16).k(3).no_bias().check();
    ConvTester().winograd().batch(2).in(16, 19, 19).out(32).k(3).pad(1).check();
    ConvTester().winograd().in(64, 56, 56).out(64).k(3).pad(1).check();  // ResNet-18 layer 1
    // Rows of more than 16 tiles (the AVX-512 row transforms take 16 at a time), ragged ends.
    ConvTester().winograd().in(16, 20, 70).out(16).k(3).pad(1).check();
    ConvTester().winograd().in(16, 18, 131).out(24).k(3).check();
}

// F(4x4)'s products on the own packed GEMM (from 128 channels in and out): maps that end inside a
// tile, padding 0 and 1, rectangular maps, several chunks, both layouts of the products' weights,
// threads.
TEST(Winograd, WideLayersRunTheirProductsOnThePackedGemm) {
    if (!packed_gemm_available())
        GTEST_SKIP() << "SKIPPED: the packed GEMM needs a SIMD path (avx512, avx2, neon)";
    auto shape = [](int64_t c, int64_t k) { return ConvShape{1, c, 28, 28, k, 3, 3, 1, 1, 1, 1}; };
    // From 64 channels in and out on AVX2, 128 elsewhere; OpenBLAS's kernel below.
    const bool avx2 = cpu_path() == CpuPath::Avx2;
    std::vector<float> u(size_t(winograd_positions(4) * 128 * 128));  // the largest shape below
    EXPECT_EQ(winograd_pack_weights(shape(64, 64), u.data()).empty(), !avx2);
    EXPECT_EQ(winograd_pack_weights(shape(128, 64), u.data()).empty(), !avx2);
    EXPECT_TRUE(winograd_pack_weights(shape(48, 64), u.data()).empty());
    EXPECT_FALSE(winograd_pack_weights(shape(128, 128), u.data()).empty());
    for (int threads : {1, 2, 3}) {
        use_threads(threads);
        if (avx2) {
            ConvTester().packed().winograd().in(64, 28, 28).out(64).k(3).pad(1).check();
            ConvTester()
                .packed()
                .winograd()
                .in(64, 23, 30)
                .out(96)
                .k(3)
                .act(Activation::Relu)
                .check();
        }
        ConvTester().packed().winograd().in(128, 28, 28).out(128).k(3).pad(1).check();
        ConvTester()
            .packed()
            .winograd()
            .in(136, 21, 19)
            .out(130)
            .k(3)
            .act(Activation::Relu)
            .check();
        ConvTester().packed().winograd().in(128, 30, 58).out(144).k(3).pad(1).no_bias().check();
        // two chunks (as in SeveralChunksAndThreads)
        ConvTester().packed().winograd().in(200, 34, 34).out(200).k(3).pad(1).check();
    }
    use_threads(hardware_threads());
    // (ReLU; with ReLU6 the error is measured against outputs clipped to 6 while the sums run to
    // ~50: 1.3e-4 of 6 on either GEMM, the same rounding as 1.6e-5 of the sums.)
    ConvTester()
        .packed()
        .winograd()
        .in(256, 20, 20)
        .out(512)
        .k(3)
        .pad(1)
        .act(Activation::Relu)
        .check();
}

// F(2x2, 3x3) on the small maps: every way a map can end inside a 2x2 tile, padding 0 and 1,
// activations, no bias, batch, rectangular maps.
void check_small_maps(bool packed) {
    auto tester = [&] {
        ConvTester t;
        if (packed) t.packed();
        return t.winograd();
    };
    for (int64_t size : {13, 14, 15, 16})
        for (int64_t pad : {0, 1})
            tester()
                .in(128, size, size)
                .out(128)
                .k(3)
                .pad(pad)
                .act(size == 14 ? Activation::Relu : Activation::None)
                .check();
    tester().in(128, 12, 17).out(144).k(3).pad(1).act(Activation::Relu6).check();
    tester().in(160, 14, 14).out(128).k(3).pad(1).no_bias().check();
    tester().in(256, 12, 14).out(200).k(3).pad(1).check();  // column layout, K % 32 != 0
    tester().batch(2).in(128, 14, 14).out(128).k(3).pad(1).check();
    if (winograd_applies(ConvShape{1, 128, 7, 7, 128, 3, 3, 1, 1, 1, 1}))  // AVX2, NEON
        for (int64_t size : {7, 8})  // outputs of 7 and 8 columns, 7 to 9 rows
            for (int64_t pad : {0, 1})
                tester().in(128, size + 2 - 2 * pad, size + 2 - pad).out(136).k(3).pad(pad).check();
    for (int threads : {1, 2, 3}) {
        use_threads(threads);
        tester().in(256, 14, 14).out(256).k(3).pad(1).check();  // ResNet-18 layer 3
    }
    use_threads(hardware_threads());
}

TEST(Winograd, SmallMapsMatchTheReferenceOverShapes) { check_small_maps(false); }

TEST(Winograd, SmallMapsOnThePackedGemmMatchTheReference) {
    if (!packed_gemm_available())
        GTEST_SKIP() << "SKIPPED: the packed GEMM needs a SIMD path (avx512, avx2, neon)";
    check_small_maps(true);
}

TEST(Winograd, DeepReductionsStayAccurate) {
    // 512 input channels x 9 taps summed per output, as in VGG16's and ResNet-18's last layers.
    ConvTester().winograd().in(512, 20, 20).out(16).k(3).pad(1).check();
    ConvTester().winograd().in(256, 28, 28).out(16).k(3).pad(1).check();
    ConvTester().winograd().in(512, 14, 14).out(512).k(3).pad(1).check();  // F(2x2), VGG16 block 5
}

TEST(Winograd, SeveralChunksAndThreads) {
    // 9 x 9 tiles of 200 + 200 channels: two chunks (8 rows of tiles, then 1).
    for (int threads : {1, 2, 3}) {
        use_threads(threads);
        ConvTester().winograd().in(200, 34, 34).out(200).k(3).pad(1).check();
        ConvTester().winograd().in(16, 20, 20).out(48).k(3).pad(1).check();
        ConvTester().winograd().in(48, 30, 17).out(16).k(3).check();  // one chunk
    }
    use_threads(hardware_threads());
}

}  // namespace nse::test

namespace nse::test {

TEST(DirectConv, SmallChannelLayersAgainstTheReference) {
    // LeNet's layers, RGB stems (3x3 stride 2, 7x7 stride 2), output channels that fill no,
    // one and several 16-wide vectors (5, 16, 24, 40, 48, 64: groups of 4, 8 and 6 pixels),
    // widths that leave part of the last group and of the last 16 pixels written out, strides,
    // dilation, padding, batch, every activation, no bias. Every path with own vector kernels
    // (the implicit GEMM of simd/direct_conv_body.h, or its channel vectors) takes these shapes.
    const bool simd = cpu_path() != CpuPath::Generic;
    EXPECT_EQ(direct_conv_applies(ConvShape{1, 1, 28, 28, 6, 5, 5, 1, 1, 2, 2}), simd);
    EXPECT_EQ(direct_conv_applies(ConvShape{1, 6, 14, 14, 16, 5, 5}), simd);
    EXPECT_EQ(direct_conv_applies(ConvShape{1, 3, 224, 224, 64, 7, 7, 2, 2, 3, 3}), simd);
    EXPECT_FALSE(direct_conv_applies(ConvShape{1, 3, 32, 32, 65, 3, 3}));  // > 64 outputs
    EXPECT_EQ(direct_conv_applies(ConvShape{1, 2, 9, 40, 7, 3, 21, 1, 1, 1, 10}), simd);
    EXPECT_EQ(direct_conv_applies(ConvShape{1, 3, 224, 224, 64, 11, 11, 4, 4, 2, 2}), simd);
    // 432 values: past the pixel tiles' reach (24 channels and 32 pixels fill them), within the
    // channel tiles' (16 channels on 15 pixels a row fill them better), 648 past both.
    EXPECT_FALSE(direct_conv_applies(ConvShape{1, 48, 66, 66, 24, 3, 3, 2, 2}));
    EXPECT_EQ(direct_conv_applies(ConvShape{1, 48, 32, 32, 16, 3, 3, 2, 2}), simd);
    EXPECT_FALSE(direct_conv_applies(ConvShape{1, 72, 32, 32, 16, 3, 3, 2, 2}));
    EXPECT_FALSE(direct_conv_applies(ConvShape{1, 16, 20, 20, 16, 3, 3, 1, 1, 1, 1}));  // Winograd
    EXPECT_FALSE(direct_conv_applies(ConvShape{1, 16, 32, 32, 16, 1, 1}));  // 1x1: a GEMM
    // Grouped: per group (2 inputs x 9 taps, 2 outputs), not in all; a group of 48 inputs (432
    // values) only in channel tiles, of 72 (648) not at all; depthwise has its own path.
    EXPECT_EQ(direct_conv_applies(ConvShape{1, 4, 9, 9, 4, 3, 3, 1, 1, 1, 1, 1, 1, 2}), simd);
    EXPECT_EQ(direct_conv_applies(ConvShape{1, 96, 9, 9, 96, 3, 3, 1, 1, 1, 1, 1, 1, 2}), simd);
    EXPECT_FALSE(direct_conv_applies(ConvShape{1, 144, 9, 9, 144, 3, 3, 1, 1, 1, 1, 1, 1, 2}));
    EXPECT_FALSE(direct_conv_applies(ConvShape{1, 8, 9, 9, 8, 3, 3, 1, 1, 1, 1, 1, 1, 8}));
    if (!simd) GTEST_SKIP() << "SKIPPED: the generic path has no direct convolution";
    for (int threads : {1, 2, 3}) {
        use_threads(threads);
        ConvTester().in(1, 28, 28).out(6).k(5).pad(2).act(Activation::Relu).check();
        ConvTester().in(6, 14, 14).out(16).k(5).act(Activation::Relu).check();
        ConvTester().in(3, 33, 31).out(32).k(3).stride(2).pad(1).act(Activation::Relu6).check();
        ConvTester().in(3, 45, 41).out(64).k(7).stride(2).pad(3).act(Activation::Relu).check();
        ConvTester().in(4, 17, 18).out(40).k(3).stride(3, 2).pad(1).check();
        ConvTester().in(2, 19, 19).out(5).k(3).dilation(2).pad(2).no_bias().check();
        ConvTester().batch(3).in(4, 12, 13).out(8).k(5).stride(2).pad(2).check();
        ConvTester().in(3, 11, 9).out(16).k(1, 3).pad(0, 1).check();   // 1x3 is not 1x1
        ConvTester().in(2, 9, 40).out(7).k(3, 21).pad(1, 10).check();  // wider than 16 taps
        ConvTester().in(3, 9, 75).out(48).k(3).pad(1).act(Activation::Relu).check();
        ConvTester().in(2, 7, 37).out(24).k(5).pad(2).check();
        ConvTester().in(3, 6, 53).out(64).k(3).stride(1, 2).pad(1).check();
        ConvTester().in(3, 67, 67).out(64).k(11).stride(4).pad(2).act(Activation::Relu).check();
        ConvTester().in(16, 20, 21).out(20).k(5).pad(2).check();  // reduction 400
    }
    use_threads(hardware_threads());
    // Weights laid out once, as the layer does at load, give exactly the per-call result.
    const ConvShape sh{1, 3, 33, 31, 40, 3, 3, 2, 2, 1, 1};
    const auto x = random_vector(3 * 33 * 31, 1), w = random_vector(40 * 3 * 9, 2),
               b = random_vector(40, 3);
    std::vector<float> ws(direct_conv_workspace_floats(sh)), wt(direct_conv_weight_floats(sh));
    std::vector<float> y1(40 * sh.p() * sh.q(), NAN), y2(y1.size(), NAN);
    direct_conv_prepare_weights(sh, w.data(), wt.data());
    direct_conv2d_f32_cpu(test_pool(), sh, x.data(), w.data(), b.data(), Activation::Relu,
                          y1.data(), ws.data());
    direct_conv2d_f32_cpu(test_pool(), sh, x.data(), w.data(), b.data(), Activation::Relu,
                          y2.data(), ws.data(), wt.data());
    EXPECT_EQ(y1, y2);
}

}  // namespace nse::test
