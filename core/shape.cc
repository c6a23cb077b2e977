#include "core/shape.h"

#include <limits>

#include "absl/strings/str_cat.h"

namespace trainyard {

int64_t Shape::size() const {
  int64_t hw, chw;
  if (__builtin_mul_overflow(height_, width_, &hw) ||
      __builtin_mul_overflow(channels_, hw, &chw)) {
    return std::numeric_limits<int64_t>::max();
  }
  return chw;
}

std::string Shape::ToString() const {
  if (!image_) return absl::StrCat(width_);
  return absl::StrCat(channels_, "x", height_, "x", width_);
}

}  // namespace trainyard
