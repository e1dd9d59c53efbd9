// Chained-setter testers that run a fast kernel and its naive reference on the same random data
// and compare, e.g. ConvTester().in(3, 224, 224).k(11).stride(4).pad(2).out(64).check().
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "base/thread_pool.h"
#include "kernels/cpu/conv2d.h"
#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/direct_conv.h"
#include "kernels/cpu/packed_gemm.h"
#include "kernels/cpu/pool.h"
#include "kernels/cpu/winograd.h"
#include "kernels/reference/reference.h"
#include "tests/test_helpers.h"

namespace nse::test {

inline std::vector<float> random_vector(size_t n, uint32_t seed, float lo = -1.f, float hi = 1.f) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> dist(lo, hi);
    std::vector<float> v(n);
    for (auto& x : v) x = dist(rng);
    return v;
}

// Largest |a - b| relative to max(1, max |b|).
inline double max_rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
    if (a.size() != b.size()) return INFINITY;
    double diff = 0, scale = 1;
    for (size_t i = 0; i < a.size(); ++i) {
        // A NaN on one side only (an output never written: the testers fill with NaN) is a
        // failure; std::max would drop it.
        if (std::isnan(a[i]) != std::isnan(b[i])) return INFINITY;
        diff = std::max(diff, double(std::fabs(a[i] - b[i])));
        scale = std::max(scale, double(std::fabs(b[i])));
    }
    return diff / scale;
}

class ConvTester {
  public:
    // F(4x4, 3x3) rounds more than a direct sum: its transforms scale values by up to 100 and
    // cancel them again. Measured on these uniform [-1, 1] data (far larger weights than trained
    // ones): 2e-6 of the largest output at 16 input channels, 1.1-1.8e-5 at 200-512, against
    // 5e-7 for im2col; on the models, VGG16's output moves from 1.0e-6 to 2.1e-6 of PyTorch's.
    static constexpr double kWinogradTolerance = 5e-5;

    ConvTester& batch(int64_t n) { return sh_.n = n, *this; }
    ConvTester& in(int64_t c, int64_t h, int64_t w) {
        return sh_.c = c, sh_.h = h, sh_.w = w, *this;
    }
    ConvTester& out(int64_t k) { return sh_.k = k, *this; }
    ConvTester& k(int64_t r) { return sh_.r = sh_.s = r, *this; }
    ConvTester& k(int64_t r, int64_t s) { return sh_.r = r, sh_.s = s, *this; }
    ConvTester& stride(int64_t s) { return sh_.stride_h = sh_.stride_w = s, *this; }
    ConvTester& stride(int64_t sh, int64_t sw) {
        return sh_.stride_h = sh, sh_.stride_w = sw, *this;
    }
    ConvTester& pad(int64_t p) { return sh_.pad_h = sh_.pad_w = p, *this; }
    ConvTester& pad(int64_t ph, int64_t pw) { return sh_.pad_h = ph, sh_.pad_w = pw, *this; }
    ConvTester& dilation(int64_t d) { return sh_.dil_h = sh_.dil_w = d, *this; }
    ConvTester& groups(int64_t g) { return sh_.groups = g, *this; }
    ConvTester& depthwise(int64_t c) { return sh_.c = sh_.k = sh_.groups = c, *this; }
    ConvTester& act(Activation a) { return act_ = a, *this; }
    ConvTester& no_bias() { return bias_ = false, *this; }
    // Runs the Winograd kernel (on weights transformed as the layer does at load) instead.
    ConvTester& winograd() { return winograd_ = true, *this; }
    // Runs the GEMM paths (or Winograd's products) on the own packed GEMM, weights packed as the
    // layer does at load.
    ConvTester& packed() { return packed_ = true, *this; }

    void check() const {
        SCOPED_TRACE(describe());
        const int64_t P = sh_.p(), Q = sh_.q();
        ASSERT_GE(P, 1);
        ASSERT_GE(Q, 1);
        auto x = random_vector(sh_.n * sh_.c * sh_.h * sh_.w, 1);
        auto w = random_vector(sh_.k * (sh_.c / sh_.groups) * sh_.r * sh_.s, 2);
        auto b = random_vector(sh_.k, 3);
        std::vector<float> y(sh_.n * sh_.k * P * Q, NAN), ref(y.size());
        if (winograd_) {
            ASSERT_TRUE(winograd_applies(sh_));
            const int tile = winograd_tile(sh_);
            std::vector<float> u(winograd_weight_floats(tile, sh_.k, sh_.c));
            winograd_transform_weights(tile, sh_.k, sh_.c, w.data(), u.data());
            // Scratch starts as NaN: a kernel may not count on what it holds (zeros, say).
            std::vector<float> ws(winograd_workspace_floats(sh_, test_pool().size()) + 1, NAN);
            // With packed(): the products on the own GEMM, as the layer runs F(2x2) where it can;
            // without, on OpenBLAS (the path without AVX-512).
            std::vector<PackedWeights> pw;
            if (packed_) {
                pw = winograd_pack_weights(sh_, u.data());
                ASSERT_FALSE(pw.empty());
            }
            winograd_conv2d_f32_cpu(test_pool(), sh_, x.data(), u.data(), pw,
                                    bias_ ? b.data() : nullptr, act_, y.data(), ws.data());
        } else {
            std::vector<float> ws(conv2d_workspace_floats(sh_, test_pool().size()) + 1, NAN);
            std::vector<PackedWeights> pw;
            if (packed_) {
                ASSERT_TRUE(conv2d_uses_packed_gemm(sh_));
                pw = pack_conv_weights(sh_, w.data());
            }
            conv2d_f32_cpu(test_pool(), sh_, x.data(), w.data(), bias_ ? b.data() : nullptr, act_,
                           y.data(), ws.data(), packed_ ? pw.data() : nullptr);
        }
        ref::conv2d(sh_, x.data(), w.data(), bias_ ? b.data() : nullptr, act_, ref.data());
        EXPECT_LE(max_rel_diff(y, ref), winograd_ ? kWinogradTolerance : 1e-5);
    }

    std::string describe() const {
        return "conv n" + std::to_string(sh_.n) + " c" + std::to_string(sh_.c) + " " +
               std::to_string(sh_.h) + "x" + std::to_string(sh_.w) + " k" + std::to_string(sh_.k) +
               " " + std::to_string(sh_.r) + "x" + std::to_string(sh_.s) + " stride " +
               std::to_string(sh_.stride_h) + "/" + std::to_string(sh_.stride_w) + " pad " +
               std::to_string(sh_.pad_h) + "/" + std::to_string(sh_.pad_w) + " dil " +
               std::to_string(sh_.dil_h) + " groups " + std::to_string(sh_.groups) +
               (winograd_ ? " winograd" : "") + (packed_ ? " packed" : "");
    }

  private:
    ConvShape sh_;
    Activation act_ = Activation::None;
    bool bias_ = true, winograd_ = false, packed_ = false;
};

class PoolTester {
  public:
    PoolTester& in(int64_t c, int64_t h, int64_t w) { return s_.c = c, s_.h = h, s_.w = w, *this; }
    PoolTester& batch(int64_t n) { return s_.n = n, *this; }
    PoolTester& k(int64_t k) { return s_.kh = s_.kw = k, *this; }
    PoolTester& k(int64_t kh, int64_t kw) { return s_.kh = kh, s_.kw = kw, *this; }
    PoolTester& stride(int64_t s) { return s_.stride_h = s_.stride_w = s, *this; }
    PoolTester& pad(int64_t p) { return s_.pad_h = s_.pad_w = p, *this; }
    PoolTester& dilation(int64_t d) { return s_.dil_h = s_.dil_w = d, *this; }
    PoolTester& ceil() { return s_.ceil_mode = true, *this; }
    PoolTester& exclude_pad() { return s_.count_include_pad = false, *this; }

    void check_max() const { check(true); }
    void check_avg() const { check(false); }

  private:
    void check(bool is_max) const {
        PoolShape s = s_;
        if (!is_max) s.dil_h = s.dil_w = 1;
        s.p = pool_out_size(s.h, s.kh, s.stride_h, s.pad_h, s.dil_h, s.ceil_mode);
        s.q = pool_out_size(s.w, s.kw, s.stride_w, s.pad_w, s.dil_w, s.ceil_mode);
        SCOPED_TRACE(std::string(is_max ? "max" : "avg") + " pool " + std::to_string(s.h) + "x" +
                     std::to_string(s.w) + " k" + std::to_string(s.kh) + " s" +
                     std::to_string(s.stride_h) + " p" + std::to_string(s.pad_h) +
                     (s.ceil_mode ? " ceil" : "") + " -> " + std::to_string(s.p) + "x" +
                     std::to_string(s.q));
        ASSERT_GE(s.p, 1);
        auto x = random_vector(s.n * s.c * s.h * s.w, 4);
        std::vector<float> y(s.n * s.c * s.p * s.q, NAN), ref(y.size());
        if (is_max) {
            max_pool2d_f32_cpu(test_pool(), s, x.data(), y.data());
            ref::max_pool2d(s, x.data(), ref.data());
        } else {
            avg_pool2d_f32_cpu(test_pool(), s, x.data(), y.data());
            ref::avg_pool2d(s, x.data(), ref.data());
        }
        EXPECT_LE(max_rel_diff(y, ref), 1e-6);
    }

    PoolShape s_;
};

}  // namespace nse::test
