#include "base/tensor.h"

#include <cstdlib>
#include <cstring>
#include <sstream>

#include "base/error.h"

namespace nse {

int64_t numel(const Shape& shape) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
}

std::string shape_str(const Shape& shape) {
    std::ostringstream os;
    os << '[';
    for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
    os << ']';
    return os.str();
}

std::shared_ptr<float> aligned_floats(size_t count) {
    size_t bytes = (count * sizeof(float) + 63) / 64 * 64;
    if (bytes == 0) bytes = 64;
    void* p = std::aligned_alloc(64, bytes);
    if (!p) throw std::bad_alloc();
    return std::shared_ptr<float>(static_cast<float*>(p), [](float* q) { std::free(q); });
}

Tensor Tensor::zeros(const Shape& shape) {
    Tensor t;
    t.shape_ = shape;
    auto buf = aligned_floats(static_cast<size_t>(nse::numel(shape)));
    std::memset(buf.get(), 0, t.bytes());
    t.data_ = buf.get();
    t.owner_ = buf;
    return t;
}

Tensor Tensor::view(const Shape& shape, float* data, std::shared_ptr<void> keep_alive) {
    Tensor t;
    t.shape_ = shape;
    t.data_ = data;
    t.owner_ = std::move(keep_alive);
    return t;
}

Tensor Tensor::clone() const {
    Tensor t = zeros(shape_);
    if (bytes()) std::memcpy(t.data_, data_, bytes());
    return t;
}

}  // namespace nse
