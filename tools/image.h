// Image input: decode a JPEG or PNG and preprocess it as torchvision does for the model
// (Resize(shorter side) with PIL's antialiased bilinear filter, CenterCrop, ToTensor, Normalize).
#pragma once

#include <string>
#include <vector>

#include "base/tensor.h"

namespace nse {

struct Preprocess {
    int resize = 256;                                 // shorter side after resizing
    int crop = 224;                                   // square centre crop
    std::vector<float> mean{0.485f, 0.456f, 0.406f};  // one per channel (1 = greyscale)
    std::vector<float> std{0.229f, 0.224f, 0.225f};
    // Parses the model's nsengine.preprocess metadata (JSON); throws Error(InvalidModel).
    static Preprocess from_json(const std::string& text);
};

// 8-bit interleaved pixels, `channels` per pixel.
struct Image {
    int width = 0, height = 0, channels = 0;
    std::vector<unsigned char> pixels;
};

// Decodes a JPEG/PNG/BMP file to RGB; throws Error(Io / InvalidArgument).
Image load_image(const std::string& path);
// Resizes so the shorter side is `shorter` (PIL bilinear with antialiasing, rounded to 8 bits
// after each pass as PIL does).
Image resize_shorter_side(const Image& img, int shorter);
// [1, C, crop, crop] tensor, C = prep.mean.size() (1 converts to greyscale as PIL's "L").
Tensor preprocess_image(const Image& rgb, const Preprocess& prep);

}  // namespace nse
