#include "partition/features.h"

#include <cmath>

#include "base/thread_pool.h"
#include "kernels/cpu/conv2d.h"
#include "kernels/cpu/direct_conv.h"
#include "kernels/cpu/packed_gemm.h"
#include "kernels/cpu/winograd.h"
#include "layers/activation.h"
#include "layers/combine.h"
#include "layers/conv2d.h"
#include "layers/linear.h"
#include "layers/pooling.h"

namespace nse {

namespace {

constexpr double kMega = 1e6;

double bytes_of(const Shape& s) { return double(numel(s)) * sizeof(float); }

std::string kind_of(const Layer& layer, const std::vector<Shape>& in, const Node& node) {
    if (auto* conv = dynamic_cast<const Conv2d*>(&layer)) {
        ConvShape cs = conv->conv_shape(in[0]);
        if (cs.depthwise()) return "depthwise";
        if (conv->runs_winograd(cs)) return "winograd";
        if (direct_conv_applies(cs)) return "direct_conv";
        if (cs.pointwise() && cs.groups == 1) return "conv1x1";
        return "conv";
    }
    if (dynamic_cast<const Linear*>(&layer)) return "linear";
    if (dynamic_cast<const AdaptiveAvgPool2d*>(&layer)) return "adaptive_avg_pool";
    if (dynamic_cast<const Pool2d*>(&layer))
        return node.op == "max_pool2d" ? "max_pool" : "avg_pool";
    if (dynamic_cast<const Add*>(&layer)) return "add";
    if (dynamic_cast<const Concat*>(&layer)) return "concat";
    if (dynamic_cast<const ActivationLayer*>(&layer)) return "activation";
    if (dynamic_cast<const Softmax*>(&layer)) return "softmax";
    if (dynamic_cast<const Flatten*>(&layer)) return "flatten";
    return "other";
}

}  // namespace

std::vector<std::string> cost_kinds() {
    return {"conv",     "conv1x1",  "winograd",          "direct_conv", "depthwise", "linear",
            "max_pool", "avg_pool", "adaptive_avg_pool", "add",         "concat",    "activation",
            "softmax",  "flatten"};
}

// Units: MFLOP and MB, so coefficients are ms per MFLOP / per MB.
std::vector<std::string> feature_names(const std::string& kind) {
    if (kind == "conv" || kind == "conv1x1")  // the same GEMM terms; the bytes read differ
        return {"1",
                "mflop_rows",
                "mflop_small_m",
                "mflop_small_n",
                "mflop_small_k",
                "mflop_short_k",
                "mflop_transposed",
                kind == "conv" ? "im2col_mb" : "in_mb",
                "out_mb",
                "param_mb_streamed"};
    if (kind == "winograd")
        return {"1",
                "mflop_gemm_computed",
                "mflop_gemm_few_channels",
                "mvalues_transformed",
                "in_mb",
                "out_mb",
                "weight_mb_read"};
    if (kind == "direct_conv")
        return {"1", "mflop", "in_mb", "out_mb", "mvector_fmas", "out_mb_cold", "mbroadcasts"};
    // (in_mb_split: the input MB where it was written by several threads, kSplitInputMb.)
    if (kind == "depthwise")
        return {"1",      "mflop",        "mflop_strided", "mflop_5x5",  "in_mb",
                "out_mb", "mvector_taps", "mplanes",       "in_mb_split"};
    if (kind == "linear") return {"1", "mflop", "param_mb_cached", "param_mb_streamed"};
    if (kind == "max_pool" || kind == "avg_pool" || kind == "adaptive_avg_pool")
        return {"1", "mflop", "in_mb", "out_mb", "mrows_out", "in_mb_split"};
    return {"1", "in_mb", "out_mb", "in_mb_split"};
}

bool moves_data(const std::string& kind) {
    return kind == "max_pool" || kind == "avg_pool" || kind == "adaptive_avg_pool" ||
           kind == "add" || kind == "concat" || kind == "activation";
}

NodeFeatures node_features(const Model& model, int i, const std::vector<Shape>& in) {
    const Layer& layer = model.layer(i);
    NodeFeatures f;
    f.kind = kind_of(layer, in, model.node(i));
    const Shape out = layer.output_shape(in);
    double in_mb = 0;
    for (const auto& s : in) in_mb += bytes_of(s) / kMega;
    const double out_mb = bytes_of(out) / kMega;
    const double param_mb = double(layer.param_bytes()) / kMega;
    const double mflop = layer.flops(in) / kMega;
    // Read partly from another core's cache (the sweep writes such inputs so, deploy.cpp): a cost
    // of its own, so the rates of small layers, whose inputs stay in one core, are fitted apart.
    const double split_mb = in_mb >= kSplitInputMb ? in_mb : 0.0;
    if (f.kind == "conv" || f.kind == "conv1x1") {
        ConvShape cs = static_cast<const Conv2d&>(layer).conv_shape(in[0]);
        // GEMM rows are the output channels per group; below ~64 the micro-kernels run partly
        // empty, so those FLOPs cost more.
        const double m = double(cs.k / cs.groups);
        const double small_m = mflop * std::max(0.0, 64.0 / m - 1.0);
        const double im2col_mb = double(cs.c * cs.r * cs.s * cs.p() * cs.q()) * cs.n * 4 / kMega;
        // Weights from memory only cost time of their own when each is used for too few
        // columns to hide the load behind the multiply-adds.
        const double streamed = std::max(0.0, param_mb - kCachedWeightsMb) *
                                std::max(0.0, 1.0 - cs.p() * cs.q() / 64.0);
        // GEMM columns are the output pixels: small feature maps (7x7, 14x14) leave the
        // micro-kernels short rows, at a lower rate unless there are enough rows (output
        // channels) for each thread to take a share of those instead.
        // Where the packed GEMM computes such a layer transposed (kernels/cpu/packed_gemm.h:
        // column panels, for narrow maps and long reductions), short rows cost nothing extra.
        const double cols = double(cs.p() * cs.q());
        const double inner = double(cs.c / cs.groups * cs.r * cs.s);
        const bool transposed = conv2d_uses_packed_gemm(cs) &&
                                packed_layout_for(cs.k / cs.groups, cs.p() * cs.q(),
                                                  int64_t(inner)) == PackedWeights::Layout::Columns;
        const double small_n =
            transposed ? 0.0
                       : mflop * std::max(0.0, std::log2(400.0 / cols)) * std::min(1.0, 128.0 / m);
        // A short inner dimension (few input channels) spends more of the GEMM on packing.
        // The shortest (<= 16 values) skip the packing and run another order, bound by writing
        // the output, and the transposed products block their reduction their own way: their
        // FLOPs go to features of their own, each path fitted its own rate (on one rate for
        // all, with the terms above, MobileNetV2's 16 -> 96 expansion and its 7x7 1x1 layers
        // came out 45-75 % high).
        const bool short_k =
            conv2d_uses_packed_gemm(cs) && !transposed && inner <= kPackedGemmShortK;
        const double small_k = short_k ? 0.0 : mflop * std::max(0.0, std::log2(256.0 / inner));
        const double rows = short_k || transposed ? 0.0 : mflop;
        const double shortk = short_k ? mflop : 0.0, columns = transposed ? mflop : 0.0;
        const double read_mb = f.kind == "conv" ? im2col_mb : in_mb;
        f.x = {1, rows, small_m, small_n, small_k, shortk, columns, read_mb, out_mb, streamed};
    } else if (f.kind == "winograd") {
        // 36 (F(4x4)) or 16 (F(2x2)) GEMMs of K x C x tiles, transforms of (C + K) x tiles
        // 6x6 or 4x4 tiles, and the transformed weights (4x or 1.8x the filter) read once per
        // chunk of tiles.
        ConvShape cs = static_cast<const Conv2d&>(layer).conv_shape(in[0]);
        const double positions = double(winograd_positions(winograd_tile(cs)));
        const double tiles = double(cs.n) * winograd_tiles(cs);
        const double gemm = 2.0 * positions * cs.k * cs.c * tiles / kMega;
        const double few = gemm * std::max(0.0, std::log2(128.0 / double(std::min(cs.c, cs.k))));
        // The products as the micro-kernels compute them: the padding of a chunk's last tile
        // costs what real columns do (ResNet-18's 128-channel 28x28 layers, 49 tiles in two
        // 32-wide ones, came out 10-17 % low alone and 20-36 % low in the network without).
        const double computed = gemm / winograd_products_fill(cs);
        const double values = positions * (cs.c + cs.k) * tiles / kMega;
        const double weights = positions * 4 * cs.k * cs.c * cs.n * winograd_chunks(cs) / kMega;
        f.x = {1, computed, few, values, in_mb, out_mb, weights};
    } else if (f.kind == "direct_conv") {
        // Output channels in 16-wide vectors: one multiply-add per pixel, tap and 16 channels,
        // after one load and broadcast of the input value per pixel and tap, shared by all the
        // vectors (ResNet-18's 64-channel stem does a quarter of the broadcasts per multiply-add
        // of a 16-channel layer: priced by the multiply-adds alone it came out 31-51 % high).
        ConvShape cs = static_cast<const Conv2d&>(layer).conv_shape(in[0]);
        const double broadcasts = double(cs.n) * cs.p() * cs.q() * cs.c * cs.r * cs.s / kMega;
        const double fmas = broadcasts * double((cs.k + 15) / 16);
        // An output past kFlushedOutputMb goes to memory the network last used long before
        // (and the sweep measures it so): its writes at memory's rate get a coefficient of their
        // own, rather than riding on the multiply-adds' rate into layers whose output stays
        // cached.
        const double out_cold = out_mb > kFlushedOutputMb ? out_mb : 0.0;
        f.x = {1, mflop, in_mb, out_mb, fmas, out_cold, broadcasts};
    } else if (f.kind == "depthwise") {
        // The kernel sums all taps of an output row in 16-wide vectors: a row of Q outputs costs
        // ceil(Q / 16) vector multiply-adds per tap however few of the lanes are used.
        ConvShape cs = static_cast<const Conv2d&>(layer).conv_shape(in[0]);
        const double row_calls =
            double(cs.n) * cs.c * cs.p() * ((cs.q() + 15) / 16) * cs.r * cs.s / kMega;
        // A per-plane cost that dominates small planes (7x7 costs about what 10x10 does): the
        // set-up of a plane, and where the 3x3 kernel that reads planes in place does not run
        // (depthwise3x3.h), a copy into a padded buffer.
        const double planes = double(cs.n) * cs.c / kMega;
        // Strided planes are split into even and odd columns (or column phases): more work per
        // FLOP.
        const double strided = cs.stride_w > 1 ? mflop : 0.0;
        // 5x5 and 3x3 run different plane kernels (5x5 always in masked AVX-512 vectors): a
        // coefficient of their own.
        const double wide = cs.r * cs.s > 9 ? mflop : 0.0;
        f.x = {1, mflop, strided, wide, in_mb, out_mb, row_calls, planes, split_mb};
    } else if (f.kind == "linear") {
        // Weights that stay cached between inferences, or all of them from memory: the sweep
        // measures a layer past kCachedWeightsMb cold (measured_cold), so all its MB are
        // streamed (counted as 16 MB cached and the rest streamed, AlexNet's and VGG16's
        // 16.4 MB 4096 -> 1000 layer came out 31-34 % low).
        const bool cold = param_mb > kCachedWeightsMb;
        f.x = {1, mflop, cold ? 0.0 : param_mb, cold ? param_mb : 0.0};
    } else if (f.kind == "max_pool" || f.kind == "avg_pool" || f.kind == "adaptive_avg_pool") {
        // The kernels work an output row at a time: on small maps the rows' count, not the
        // values, sets the time (128 planes of 20x20 and 16 of 160x160, 1280 rows each, both
        // took 24-27 us; a fit without it missed small pools by 0.4-2x).
        const double rows = double(numel(out)) / double(out.size() == 4 ? out[3] : 1) / kMega;
        f.x = {1, mflop, in_mb, out_mb, rows, split_mb};
    } else {
        f.x = {1, in_mb, out_mb, split_mb};
    }
    return f;
}

std::vector<NodeWeights> model_weights(const Model& model) {
    const std::vector<Shape> shapes = model.shapes_for_batch(model.graph().input_shape[0]);
    std::vector<NodeWeights> out;
    for (int i = 0; i < model.size(); ++i) {
        std::vector<Shape> in;
        for (int id : model.node_inputs(i)) in.push_back(shapes[id]);
        const Layer& layer = model.layer(i);
        NodeWeights w;
        w.read_mb = double(layer.param_bytes()) / kMega;
        w.out_mb = bytes_of(layer.output_shape(in)) / kMega;
        w.measured_cold = nse::measured_cold(w.read_mb, w.out_mb);
        if (auto* conv = dynamic_cast<const Conv2d*>(&layer)) {
            const ConvShape cs = conv->conv_shape(in[0]);
            if (!cs.depthwise() && conv->runs_winograd(cs))
                w.read_mb = double(winograd_positions(winograd_tile(cs))) * cs.k * cs.c * 4 / kMega;
        }
        out.push_back(w);
    }
    return out;
}

namespace {
bool runs_on_pool(const std::string& kind, double flops, int64_t values) {
    if (kind == "softmax" || kind == "flatten") return false;
    if (kind == "activation" || kind == "add" || kind == "concat") return values >= 16384;
    if (kind == "max_pool" || kind == "avg_pool" || kind == "adaptive_avg_pool")
        return kFlopsPerElement * flops >= kMinParallelWork;
    return flops >= kMinParallelWork;
}
}  // namespace

std::vector<double> handoff_mb(const Model& model, int threads) {
    const std::vector<Shape> shapes = model.shapes_for_batch(model.graph().input_shape[0]);
    const std::vector<NodeFeatures> features = model_features(model);
    std::vector<bool> pool(model.size(), false);
    std::vector<double> out(model.size(), 0.0);
    for (int i = 0; i < model.size(); ++i) {
        std::vector<Shape> in;
        for (int id : model.node_inputs(i)) in.push_back(shapes[id]);
        pool[i] = threads > 1 &&
                  runs_on_pool(features[i].kind, model.layer(i).flops(in), numel(shapes[i + 1]));
        for (int id : model.node_inputs(i))
            if ((id > 0 && pool[id - 1]) != pool[i]) out[i] += bytes_of(shapes[id]) / kMega;
    }
    return out;
}

std::vector<NodeFeatures> model_features(const Model& model) {
    std::vector<Shape> shapes = model.shapes_for_batch(model.graph().input_shape[0]);
    std::vector<NodeFeatures> out;
    for (int i = 0; i < model.size(); ++i) {
        std::vector<Shape> in;
        for (int id : model.node_inputs(i)) in.push_back(shapes[id]);
        out.push_back(node_features(model, i, in));
    }
    return out;
}

}  // namespace nse
