// Conv2d's side of the latency models: the five kernel kinds a convolution can run as, their
// features, and the deployment sweep's synthetic convolutions.
#include <cmath>

#include "base/thread_pool.h"
#include "kernels/cpu/conv2d.h"
#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/depthwise_direct.h"
#include "kernels/cpu/direct_conv.h"
#include "kernels/cpu/packed_gemm.h"
#include "kernels/cpu/winograd.h"
#include "layers/conv2d.h"
#include "layers/linear.h"

namespace nse {

namespace {

// The same GEMM terms for im2col and 1x1 convolutions; the bytes read differ.
std::vector<std::string> gemm_features(const char* read) {
    return {"1",
            "mflop_rows",
            "mflop_small_m",
            "mflop_small_n",
            "mflop_small_k",
            "mflop_short_k",
            "mflop_transposed",
            read,
            "out_mb",
            "param_mb_streamed"};
}

bool direct_conv_available() { return cpu_path() != CpuPath::Generic; }

}  // namespace

const CostKind Conv2d::kGemm{"conv", gemm_features("im2col_mb"), false, true};
const CostKind Conv2d::kPointwise{"conv1x1", gemm_features("in_mb"), false, true};
const CostKind Conv2d::kWinograd{"winograd",
                                 {"1", "mflop_gemm_computed", "mflop_gemm_few_channels",
                                  "mvalues_transformed", "in_mb", "out_mb", "weight_mb_read"},
                                 false,
                                 true};
const CostKind Conv2d::kDirect{
    "direct_conv",
    {"1", "mflop", "in_mb", "out_mb", "mflop_issued", "out_mb_cold", "mbroadcasts"},
    false,
    true,
    direct_conv_available};
// (in_mb_split: the input MB where it was written by several threads, kSplitInputMb.)
const CostKind Conv2d::kDepthwise{"depthwise",
                                  {"1", "mflop", "mflop_strided", "mflop_5x5", "in_mb", "out_mb",
                                   "mvector_taps", "mplanes", "in_mb_split"},
                                  false,
                                  false};

const CostKind& Conv2d::kind_for(const ConvShape& cs) const {
    if (cs.depthwise()) return kDepthwise;
    if (runs_winograd(cs)) return kWinograd;
    if (direct_conv_applies(cs)) return kDirect;
    if (conv2d_matrix_vector(cs)) return Linear::kKind;  // run as a fully connected layer
    if (cs.pointwise() && cs.groups == 1) return kPointwise;
    return kGemm;
}

double Conv2d::weight_read_mb(const std::vector<Shape>& in) const {
    const ConvShape cs = conv_shape(in[0]);
    if (!cs.depthwise() && runs_winograd(cs))
        return double(winograd_positions(winograd_tile(cs))) * cs.k * cs.c * 4 / 1e6;
    return Layer::weight_read_mb(in);
}

NodeCost Conv2d::cost(const std::vector<Shape>& in) const {
    const ConvShape cs = conv_shape(in[0]);
    const CostKind& kind = kind_for(cs);
    const double in_mb = inputs_mb(in), out_mb = shape_mb(output_shape(in));
    const double param_mb = double(param_bytes()) / 1e6, mflop = cs.flops() / 1e6;
    const double split_mb = in_mb >= kSplitInputMb ? in_mb : 0.0;
    NodeCost c{&kind, {}, cs.flops() >= kMinParallelWork};
    if (&kind == &Linear::kKind) return Linear::vector_cost(cs.n, cs.k, cs.c, param_bytes());
    if (&kind == &kGemm || &kind == &kPointwise) {
        // GEMM rows are the output channels per group; below ~64 the micro-kernels run partly
        // empty, so those FLOPs cost more.
        const double m = double(cs.k / cs.groups);
        const double small_m = mflop * std::max(0.0, 64.0 / m - 1.0);
        const double im2col_mb = double(cs.c * cs.r * cs.s * cs.p() * cs.q()) * cs.n * 4 / 1e6;
        // Weights from memory only cost time of their own when each is used for too few
        // columns to hide the load behind the multiply-adds.
        const double streamed = std::max(0.0, param_mb - kCachedWeightsMb) *
                                std::max(0.0, 1.0 - cs.p() * cs.q() / 64.0);
        // GEMM columns are the output pixels: small feature maps (7x7, 14x14) leave the
        // micro-kernels short rows, at a lower rate unless there are enough rows (output
        // channels) for each thread to take a share of those instead. Where the packed GEMM
        // computes such a layer transposed (kernels/cpu/packed_gemm.h: column panels, for
        // narrow maps and long reductions), short rows cost nothing extra.
        const double cols = double(cs.p() * cs.q());
        const double inner = double(cs.c / cs.groups * cs.r * cs.s);
        const bool transposed =
            conv2d_uses_packed_gemm(cs) &&
            packed_layout_for(cs.k / cs.groups, cs.p() * cs.q(), int64_t(inner), !cs.pointwise()) ==
                PackedWeights::Layout::Columns;
        const double small_n =
            transposed ? 0.0
                       : mflop * std::max(0.0, std::log2(400.0 / cols)) * std::min(1.0, 128.0 / m);
        // A short inner dimension (few input channels) spends more of the GEMM on packing. The
        // shortest (<= 16 values) skip the packing and run another order, bound by writing the
        // output, and the transposed products block their reduction their own way: their FLOPs
        // go to features of their own, each path fitted its own rate.
        const bool short_k =
            conv2d_uses_packed_gemm(cs) && !transposed && inner <= kPackedGemmShortK;
        const double small_k = short_k ? 0.0 : mflop * std::max(0.0, std::log2(256.0 / inner));
        const double rows = short_k || transposed ? 0.0 : mflop;
        const double shortk = short_k ? mflop : 0.0, columns = transposed ? mflop : 0.0;
        const double read_mb = &kind == &kGemm ? im2col_mb : in_mb;
        c.x = {1, rows, small_m, small_n, small_k, shortk, columns, read_mb, out_mb, streamed};
    } else if (&kind == &kWinograd) {
        // 36 (F(4x4)) or 16 (F(2x2)) GEMMs of K x C x tiles, transforms of (C + K) x tiles 6x6
        // or 4x4 tiles, and the transformed weights (4x or 1.8x the filter) read once per chunk
        // of tiles. The products as the micro-kernels compute them: the padding of a chunk's
        // last tile costs what real columns do.
        const double positions = double(winograd_positions(winograd_tile(cs)));
        const double tiles = double(cs.n) * winograd_tiles(cs);
        const double gemm = 2.0 * positions * cs.k * cs.c * tiles / 1e6;
        const double few = gemm * std::max(0.0, std::log2(128.0 / double(std::min(cs.c, cs.k))));
        const double computed = gemm / winograd_products_fill(cs);
        const double values = positions * (cs.c + cs.k) * tiles / 1e6;
        const double weights = positions * 4 * cs.k * cs.c * cs.n * winograd_chunks(cs) / 1e6;
        c.x = {1, computed, few, values, in_mb, out_mb, weights};
    } else if (&kind == &kDirect) {
        // The multiply-adds the tiles issue, the lanes past a group's channels (the channel
        // tiling's vectors) and past a row's or the map's pixels (the pixel tiling's) included;
        // one load and broadcast of the input value per pixel and tap (channel tiles), shared by
        // all the vectors. An output past kFlushedOutputMb goes to memory the network last used
        // long before: its writes get a coefficient of their own.
        const double broadcasts = double(cs.n) * cs.p() * cs.q() * cs.c * cs.r * cs.s / 1e6;
        const double issued = mflop / direct_conv_lane_fill(cs);
        const double out_cold = out_mb > kFlushedOutputMb ? out_mb : 0.0;
        c.x = {1, mflop, in_mb, out_mb, issued, out_cold, broadcasts};
    } else {
        // Depthwise: the vector multiply-adds the path's kernel issues per tap and output row
        // (depthwise_direct_row_vectors: rows of one plane in whole vectors, or channels
        // interleaved in the lanes and rows in blocks of columns); a per-plane cost dominates
        // small planes; strided planes are split into column phases (more work per FLOP); 5x5
        // runs other kernels than 3x3.
        const double row_calls =
            double(cs.n) * cs.c * cs.p() * depthwise_direct_row_vectors(cs) * cs.r * cs.s / 1e6;
        const double planes = double(cs.n) * cs.c / 1e6;
        const double strided = cs.stride_w > 1 ? mflop : 0.0;
        const double wide = cs.r * cs.s > 9 ? mflop : 0.0;
        c.x = {1, mflop, strided, wide, in_mb, out_mb, row_calls, planes, split_mb};
    }
    return c;
}

namespace {

// A convolution with ReLU: c -> k channels on an h x h map, r x r, "same" padding.
SweepCase conv_case(const std::string& kind, int64_t c, int64_t k, int64_t h, int64_t r,
                    int64_t stride, int64_t groups = 1) {
    const std::string rr = std::to_string(r) + "x" + std::to_string(r);
    SweepCase cfg{kind,
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

void Conv2d::sweep(SweepContext& ctx) {
    const auto& channels = SweepContext::channels();
    const auto& sizes = SweepContext::sizes();
    // General convolutions: 3x3 mostly, 5x5, 7x7, 11x11 and strided 1x1 (a residual shortcut);
    // half of them with as many or twice as many output channels as input ones, as in most
    // networks, the others with any pair.
    for (int made = 0; made < ctx.count(150);) {
        const int64_t c = ctx.pick(channels), h = ctx.pick(sizes);
        const int64_t k = ctx.draw() % 2
                              ? ctx.pick(channels)
                              : std::min<int64_t>(512, c * ctx.pick(std::vector<int64_t>{1, 2}));
        const int64_t r = ctx.pick(std::vector<int64_t>{1, 3, 3, 3, 3, 5, 7, 11});
        const int64_t stride = r == 11  ? 4
                               : r == 1 ? 2
                                        : ctx.pick(std::vector<int64_t>{1, 1, 1, 2});
        const int64_t groups = (c % 2 == 0 && k % 2 == 0 && ctx.draw() % 8 == 0) ? 2 : 1;
        ConvShape cs{1, c, h, h, k, r, r, stride, stride, r / 2, r / 2, 1, 1, groups};
        if (c > 64 && h > 112) continue;  // keep each layer under ~4 GFLOP and 30 MB
        if (cs.p() < 1 || cs.flops() > 4e9 || cs.flops() < 2e5) continue;
        ctx.add(conv_case(kGemm.name, c, k, h, r, stride, groups));
        ++made;
    }
    // Grouped 3x3 convolutions as ResNeXt and RegNet have them: groups of 4 to 64 channels
    // (the GEMM per group has that many rows, the small-rows feature's range).
    for (int made = 0; made < ctx.count(30);) {
        const int64_t width = ctx.pick(std::vector<int64_t>{4, 8, 16, 24, 32, 48, 64});
        const int64_t c = width * ctx.pick(std::vector<int64_t>{2, 4, 8, 16, 32});
        const int64_t h = ctx.pick(sizes), stride = ctx.pick(std::vector<int64_t>{1, 1, 2});
        ConvShape cs{1, c, h, h, c, 3, 3, stride, stride, 1, 1, 1, 1, c / width};
        if (c > 1024 || (c > 64 && h > 112) || cs.flops() > 4e9 || cs.flops() < 2e5) continue;
        ctx.add(conv_case(kGemm.name, c, c, h, 3, stride, c / width));
        ++made;
    }
    for (int made = 0; made < ctx.count(60);) {  // 3x3 stride-1 convolutions: the Winograd path
        const int64_t c = ctx.pick(channels), h = ctx.pick(sizes);
        const int64_t k = ctx.draw() % 2
                              ? ctx.pick(channels)
                              : std::min<int64_t>(512, c * ctx.pick(std::vector<int64_t>{1, 2}));
        ConvShape cs{1, c, h, h, k, 3, 3, 1, 1, 1, 1};
        if (!winograd_applies(cs) || cs.flops() > 4e9 || (c > 64 && h > 112)) continue;
        ctx.add(conv_case(kWinograd.name, c, k, h, 3, 1));
        ++made;
    }
    for (int made = 0; made < ctx.count(15);) {  // and its F(2x2) form on small maps
        const int64_t c = ctx.pick(channels), k = ctx.pick(channels);
        const int64_t h = ctx.pick(std::vector<int64_t>{7, 8, 11, 12, 14, 16});  // 7, 8: AVX2, NEON
        if (winograd_tile(ConvShape{1, c, h, h, k, 3, 3, 1, 1, 1, 1}) != 2) continue;
        ctx.add(conv_case(kWinograd.name, c, k, h, 3, 1));
        ++made;
    }
    // Few output channels and short reductions: the direct path, where the CPU has it (cheap to
    // measure and most of a small CNN: a wide sweep, 5x5 as often as 3x3).
    for (int made = 0; kDirect.runs_here() && made < ctx.count(50);) {
        const int64_t c = ctx.pick(std::vector<int64_t>{1, 1, 2, 3, 3, 4, 6, 8, 16});
        const int64_t k = ctx.pick(std::vector<int64_t>{2, 4, 6, 8, 16, 24, 32, 48, 64});
        const int64_t h = ctx.pick(sizes), r = ctx.pick(std::vector<int64_t>{3, 3, 5, 5, 7});
        const int64_t stride = ctx.pick(std::vector<int64_t>{1, 1, 2});
        ConvShape cs{1, c, h, h, k, r, r, stride, stride, r / 2, r / 2};
        if (!direct_conv_applies(cs)) continue;
        ctx.add(conv_case(kDirect.name, c, k, h, r, stride));
        ++made;
    }
    for (int made = 0; made < ctx.count(60);) {  // 1x1 convolutions
        const int64_t c = ctx.pick(channels) * ctx.pick(std::vector<int64_t>{1, 1, 2, 3});
        const int64_t k = ctx.pick(channels) * ctx.pick(std::vector<int64_t>{1, 1, 2, 3});
        const int64_t h = ctx.pick(sizes);
        ConvShape cs{1, c, h, h, k, 1, 1};
        if (cs.flops() > 2e9 || cs.flops() < 1e5 || h > 112) continue;
        SweepCase cfg{kPointwise.name,
                      "conv2d",
                      SweepContext::desc("conv1x1 k" + std::to_string(k), c, h),
                      {1, c, h, h}};
        cfg.attrs = {{"activation", "relu6"}};
        cfg.params = {{k, c, 1, 1}, {k}};
        ctx.add(cfg);
        ++made;
    }
    // 1x1 on a 1x1 map: squeeze-and-excitation's layers, which run as fully connected ones do
    // (conv2d_matrix_vector), reduce or expand 4x.
    for (int made = 0; made < ctx.count(20); ++made) {
        const int64_t c = ctx.pick(channels) * ctx.pick(std::vector<int64_t>{1, 2, 4});
        const int64_t k = ctx.draw() % 2 ? std::max<int64_t>(8, c / 4) : c * 4;
        SweepCase cfg{Linear::kKind.name,
                      "conv2d",
                      SweepContext::desc("conv1x1 squeeze k" + std::to_string(k), c, 1),
                      {1, c, 1, 1}};
        cfg.attrs = {{"activation", "relu"}};
        cfg.params = {{k, c, 1, 1}, {k}};
        ctx.add(cfg);
    }
    for (int made = 0; made < ctx.count(90);) {  // depthwise (cheap to measure; a wide sweep)
        const int64_t c = ctx.pick(channels) * ctx.pick(std::vector<int64_t>{1, 2, 3, 6});
        const int64_t h = ctx.pick(sizes), stride = ctx.pick(std::vector<int64_t>{1, 1, 2});
        const int64_t r = ctx.pick(std::vector<int64_t>{3, 3, 3, 5, 7});
        if (c < 8 || double(c) * h * h > 6e6) continue;
        SweepCase cfg{kDepthwise.name,
                      "conv2d",
                      SweepContext::desc("depthwise" + std::to_string(r) + "x" + std::to_string(r) +
                                             " s" + std::to_string(stride),
                                         c, h),
                      {1, c, h, h}};
        cfg.attrs = {
            {"stride", stride}, {"padding", r / 2}, {"groups", c}, {"activation", "relu6"}};
        cfg.params = {{c, 1, r, r}, {c}};
        ctx.add(cfg);
        ++made;
    }
}

}  // namespace nse
