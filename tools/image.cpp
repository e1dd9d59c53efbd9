#include "tools/image.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "base/error.h"

#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_JPEG
#define STBI_ONLY_PNG
#define STBI_ONLY_BMP
#include "stb_image.h"

namespace nse {

Preprocess Preprocess::from_json(const std::string& text) {
    auto j = nlohmann::json::parse(text, nullptr, false);
    NSE_CHECK(!j.is_discarded() && j.is_object(), ErrorCode::InvalidModel,
              "nsengine.preprocess is not a JSON object");
    Preprocess p;
    try {
        p.resize = j.at("resize").get<int>();
        p.crop = j.at("crop").get<int>();
        p.mean = j.at("mean").get<std::vector<float>>();
        p.std = j.at("std").get<std::vector<float>>();
    } catch (const nlohmann::json::exception& e) {
        throw Error(ErrorCode::InvalidModel, std::string("nsengine.preprocess: ") + e.what());
    }
    NSE_CHECK(p.resize >= 1 && p.crop >= 1 && p.crop <= p.resize && !p.mean.empty() &&
                  p.mean.size() == p.std.size() && (p.mean.size() == 1 || p.mean.size() == 3),
              ErrorCode::InvalidModel, "nsengine.preprocess has inconsistent values");
    return p;
}

Image load_image(const std::string& path) {
    Image img;
    unsigned char* data = stbi_load(path.c_str(), &img.width, &img.height, &img.channels, 3);
    NSE_CHECK(data, ErrorCode::Io, path, ": cannot decode image (",
              stbi_failure_reason() ? stbi_failure_reason() : "unknown reason",
              "); JPEG, PNG and BMP are supported");
    img.channels = 3;
    img.pixels.assign(data, data + size_t(img.width) * img.height * 3);
    stbi_image_free(data);
    return img;
}

namespace {

// One pass of PIL's antialiased bilinear resampling along one axis: output pixel i covers
// input centre (i + 0.5) * scale with a triangle filter widened by the scale when shrinking.
struct Taps {
    std::vector<int> first;
    std::vector<std::vector<float>> weights;
};

Taps make_taps(int in, int out) {
    const double scale = double(in) / out;
    const double filter_scale = std::max(scale, 1.0);
    const double support = 1.0 * filter_scale;
    Taps t;
    for (int i = 0; i < out; ++i) {
        const double center = (i + 0.5) * scale;
        int lo = std::max(0, int(center - support + 0.5));
        int hi = std::min(in, int(center + support + 0.5));
        std::vector<float> w;
        double sum = 0;
        for (int j = lo; j < hi; ++j) {
            double x = (j - center + 0.5) / filter_scale;
            double v = std::max(0.0, 1.0 - std::abs(x));
            w.push_back(float(v));
            sum += v;
        }
        for (auto& v : w) v = float(v / (sum > 0 ? sum : 1));
        t.first.push_back(lo);
        t.weights.push_back(std::move(w));
    }
    return t;
}

unsigned char to_u8(float v) { return (unsigned char)std::clamp(std::lround(v), 0L, 255L); }

}  // namespace

Image resize_shorter_side(const Image& img, int shorter) {
    int ow, oh;
    if (img.width <= img.height) {
        ow = shorter;
        oh = int(int64_t(shorter) * img.height / img.width);
    } else {
        oh = shorter;
        ow = int(int64_t(shorter) * img.width / img.height);
    }
    const int C = img.channels;
    Taps tx = make_taps(img.width, ow), ty = make_taps(img.height, oh);
    Image mid{ow, img.height, C, std::vector<unsigned char>(size_t(ow) * img.height * C)};
    for (int y = 0; y < img.height; ++y)
        for (int x = 0; x < ow; ++x)
            for (int c = 0; c < C; ++c) {
                float acc = 0;
                for (size_t k = 0; k < tx.weights[x].size(); ++k)
                    acc += tx.weights[x][k] *
                           img.pixels[(size_t(y) * img.width + tx.first[x] + k) * C + c];
                mid.pixels[(size_t(y) * ow + x) * C + c] = to_u8(acc);
            }
    Image out{ow, oh, C, std::vector<unsigned char>(size_t(ow) * oh * C)};
    for (int y = 0; y < oh; ++y)
        for (int x = 0; x < ow; ++x)
            for (int c = 0; c < C; ++c) {
                float acc = 0;
                for (size_t k = 0; k < ty.weights[y].size(); ++k)
                    acc += ty.weights[y][k] * mid.pixels[((ty.first[y] + k) * ow + x) * C + c];
                out.pixels[(size_t(y) * ow + x) * C + c] = to_u8(acc);
            }
    return out;
}

Tensor preprocess_image(const Image& rgb, const Preprocess& prep) {
    NSE_CHECK(rgb.channels == 3 && rgb.width >= 1 && rgb.height >= 1, ErrorCode::InvalidArgument,
              "image must be RGB and non-empty");
    Image src = rgb;
    if (prep.mean.size() == 1) {  // PIL "L": L = R * 299/1000 + G * 587/1000 + B * 114/1000
        Image grey{rgb.width, rgb.height, 1,
                   std::vector<unsigned char>(size_t(rgb.width) * rgb.height)};
        for (size_t i = 0; i < grey.pixels.size(); ++i) {
            const unsigned char* p = &rgb.pixels[i * 3];
            grey.pixels[i] =
                (unsigned char)((p[0] * 19595 + p[1] * 38470 + p[2] * 7471 + 0x8000) >> 16);
        }
        src = std::move(grey);
    }
    Image r = resize_shorter_side(src, prep.resize);
    const int crop = prep.crop, C = r.channels;
    NSE_CHECK(r.width >= crop && r.height >= crop, ErrorCode::InvalidArgument,
              "image too small to crop");
    // torchvision rounds half to even (Python round), as nearbyint does by default.
    const int top = int(std::nearbyint((r.height - crop) / 2.0));
    const int left = int(std::nearbyint((r.width - crop) / 2.0));
    Tensor t = Tensor::zeros({1, C, crop, crop});
    for (int c = 0; c < C; ++c)
        for (int y = 0; y < crop; ++y)
            for (int x = 0; x < crop; ++x) {
                const float v = r.pixels[(size_t(top + y) * r.width + left + x) * C + c] / 255.f;
                t.data()[(size_t(c) * crop + y) * crop + x] = (v - prep.mean[c]) / prep.std[c];
            }
    return t;
}

}  // namespace nse
