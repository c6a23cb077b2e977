// The shape of one sample as it flows through a model: flat (a feature
// vector) or an image (channels x height x width). Whatever the shape, a
// mini-batch is a (size(), batch) matrix (core/tensor.h); an image sample is
// one column holding its values in C, H, W order (row-major, as PyTorch's
// contiguous NCHW tensors store a sample).
#ifndef TRAINYARD_CORE_SHAPE_H_
#define TRAINYARD_CORE_SHAPE_H_

#include <cstdint>
#include <string>

namespace trainyard {

class Shape {
 public:
  // A flat shape of 0 features: the shape of nothing yet.
  Shape() = default;
  static Shape Flat(int64_t features) { return Shape(false, 1, 1, features); }
  static Shape Image(int64_t channels, int64_t height, int64_t width) {
    return Shape(true, channels, height, width);
  }

  bool is_image() const { return image_; }
  // For an image; a flat shape reads as 1 x 1 x features.
  int64_t channels() const { return channels_; }
  int64_t height() const { return height_; }
  int64_t width() const { return width_; }

  // Scalars per sample: features, or channels * height * width (saturating
  // at INT64_MAX, so an absurd shape never wraps into a small one).
  int64_t size() const;

  // "784" for a flat shape, "1x28x28" for an image (ASCII 'x', so that the
  // string can be pasted into a terminal or a JSON message unchanged).
  std::string ToString() const;

  friend bool operator==(const Shape& a, const Shape& b) {
    return a.image_ == b.image_ && a.channels_ == b.channels_ &&
           a.height_ == b.height_ && a.width_ == b.width_;
  }
  friend bool operator!=(const Shape& a, const Shape& b) { return !(a == b); }

 private:
  Shape(bool image, int64_t c, int64_t h, int64_t w)
      : image_(image), channels_(c), height_(h), width_(w) {}

  bool image_ = false;
  int64_t channels_ = 1;
  int64_t height_ = 1;
  int64_t width_ = 0;
};

}  // namespace trainyard

#endif  // TRAINYARD_CORE_SHAPE_H_
