// Tensor: an fp32 NCHW array with a shape, either owning 64-byte-aligned memory or viewing
// memory owned elsewhere (a mapped model file, a runtime arena, a network buffer).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace nse {

using Shape = std::vector<int64_t>;

int64_t numel(const Shape& shape);
std::string shape_str(const Shape& shape);  // "[1, 3, 224, 224]"

// 64-byte-aligned float buffer; contents uninitialised.
std::shared_ptr<float> aligned_floats(size_t count);

class Tensor {
  public:
    Tensor() = default;
    // New owning tensor, zero-filled.
    static Tensor zeros(const Shape& shape);
    // Non-owning view; `keep_alive` (may be null) holds whatever owns `data`.
    static Tensor view(const Shape& shape, float* data, std::shared_ptr<void> keep_alive = nullptr);

    const Shape& shape() const { return shape_; }
    int64_t dim(size_t i) const { return shape_[i]; }
    size_t rank() const { return shape_.size(); }
    int64_t numel() const { return nse::numel(shape_); }
    size_t bytes() const { return static_cast<size_t>(numel()) * sizeof(float); }
    float* data() { return data_; }
    const float* data() const { return data_; }
    bool empty() const { return data_ == nullptr; }

    // Points this view at other memory of the same shape (no allocation).
    void rebind(float* data) { data_ = data; }
    // Deep copy into a new owning tensor.
    Tensor clone() const;

  private:
    Shape shape_;
    float* data_ = nullptr;
    std::shared_ptr<void> owner_;
};

}  // namespace nse
