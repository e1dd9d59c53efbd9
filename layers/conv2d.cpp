#include "layers/conv2d.h"

#include "base/thread_pool.h"
#include "kernels/cpu/conv2d.h"
#include "kernels/cpu/direct_conv.h"
#include "kernels/cpu/packed_gemm.h"
#include "kernels/cpu/winograd.h"

namespace nse {

void Conv2d::load(const nlohmann::json& attrs, std::vector<Tensor> params) {
    stride_ = attr_pair(attrs, "stride", {1, 1});
    padding_ = attr_pair(attrs, "padding", {0, 0});
    dilation_ = attr_pair(attrs, "dilation", {1, 1});
    groups_ = attr_int(attrs, "groups", 1);
    act_ = attr_activation(attrs);
    NSE_CHECK(stride_[0] >= 1 && stride_[1] >= 1 && dilation_[0] >= 1 && dilation_[1] >= 1 &&
                  padding_[0] >= 0 && padding_[1] >= 0 && groups_ >= 1,
              ErrorCode::InvalidModel,
              "conv2d: stride, dilation and groups must be >= 1 and "
              "padding >= 0");
    NSE_CHECK(params.size() == 1 || params.size() == 2, ErrorCode::InvalidModel,
              "conv2d takes a weight and an optional bias, the graph lists ", params.size(),
              " tensors");
    const Shape& w = params[0].shape();
    NSE_CHECK(w.size() == 4 && w[0] > 0 && w[1] > 0 && w[2] > 0 && w[3] > 0,
              ErrorCode::InvalidModel, "conv2d weight must be [K, C/groups, R, S], got ",
              shape_str(w));
    NSE_CHECK(w[0] % groups_ == 0, ErrorCode::InvalidModel, "conv2d: ", w[0],
              " output channels do not divide into ", groups_, " groups");
    if (params.size() == 2)
        NSE_CHECK(params[1].shape() == Shape{w[0]}, ErrorCode::InvalidModel,
                  "conv2d bias must be [", w[0], "], got ", shape_str(params[1].shape()));
    params_ = std::move(params);
}

void Conv2d::prepare(const std::vector<Shape>& in) {
    const Shape& w = params_[0].shape();
    const ConvShape cs = conv_shape(in[0]);
    if (direct_conv_applies(cs)) {
        direct_w_ = Tensor::zeros({int64_t(direct_conv_weight_floats(cs))});
        direct_conv_prepare_weights(cs, params_[0].data(), direct_w_.data());
        return;
    }
    winograd_tile_ = winograd_tile(cs);
    if (winograd_tile_ == 0) {
        if (conv2d_uses_packed_gemm(cs)) packed_ = pack_conv_weights(cs, params_[0].data());
        return;
    }
    winograd_u_ = Tensor::zeros({winograd_positions(winograd_tile_), w[0], w[1]});
    winograd_transform_weights(winograd_tile_, w[0], w[1], params_[0].data(), winograd_u_.data());
    winograd_packed_ = winograd_pack_weights(cs, winograd_u_.data());
    if (!winograd_packed_.empty()) winograd_u_ = Tensor::zeros({0});  // the packed copy runs
}

bool Conv2d::runs_winograd(const ConvShape& cs) const {
    return winograd_tile_ != 0 && winograd_tile(cs) == winograd_tile_;
}

ConvShape Conv2d::conv_shape(const Shape& x) const {
    const Shape& w = params_[0].shape();
    ConvShape s;
    s.n = x[0], s.c = x[1], s.h = x[2], s.w = x[3];
    s.k = w[0], s.r = w[2], s.s = w[3];
    s.stride_h = stride_[0], s.stride_w = stride_[1];
    s.pad_h = padding_[0], s.pad_w = padding_[1];
    s.dil_h = dilation_[0], s.dil_w = dilation_[1];
    s.groups = groups_;
    return s;
}

Shape Conv2d::output_shape(const std::vector<Shape>& in) const {
    const Shape& x = in[0];
    NSE_CHECK(x.size() == 4, ErrorCode::InvalidModel, "conv2d input must be [N, C, H, W], got ",
              shape_str(x));
    const Shape& w = params_[0].shape();
    NSE_CHECK(x[1] == w[1] * groups_, ErrorCode::InvalidModel, "conv2d weight ", shape_str(w),
              " with groups=", groups_, " expects ", w[1] * groups_, " input channels, input is ",
              shape_str(x));
    ConvShape s = conv_shape(x);
    NSE_CHECK(s.p() >= 1 && s.q() >= 1, ErrorCode::InvalidModel, "conv2d kernel ", shape_str(w),
              " does not fit input ", shape_str(x));
    return {x[0], w[0], s.p(), s.q()};
}

double Conv2d::flops(const std::vector<Shape>& in) const { return conv_shape(in[0]).flops(); }

size_t Conv2d::workspace_floats(const std::vector<Shape>& in, int threads) const {
    const ConvShape cs = conv_shape(in[0]);
    if (runs_winograd(cs)) return winograd_workspace_floats(cs, threads);
    return conv2d_workspace_floats(cs, threads);
}

void Conv2d::forward(const std::vector<const Tensor*>& in, Tensor& out, float* workspace,
                     ThreadPool& pool) const {
    const float* bias = params_.size() > 1 ? params_[1].data() : nullptr;
    const ConvShape cs = conv_shape(in[0]->shape());
    if (runs_winograd(cs))
        winograd_conv2d_f32_cpu(pool, cs, in[0]->data(), winograd_u_.data(), winograd_packed_, bias,
                                act_, out.data(), workspace);
    else
        conv2d_f32_cpu(pool, cs, in[0]->data(), params_[0].data(), bias, act_, out.data(),
                       workspace, packed_.empty() ? nullptr : packed_.data(),
                       direct_w_.shape().empty() ? nullptr : direct_w_.data());
}

}  // namespace nse
