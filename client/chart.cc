#include "client/chart.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_format.h"

namespace trainyard::client {
namespace {

// Braille cell: dots (column, row) with rows top to bottom; U+2800 + bits.
constexpr unsigned kDotBits[2][4] = {{0x01, 0x02, 0x04, 0x40}, {0x08, 0x10, 0x20, 0x80}};

std::string Utf8(unsigned code_point) {
  std::string out;
  if (code_point < 0x80) {
    out += static_cast<char>(code_point);
  } else if (code_point < 0x800) {
    out += static_cast<char>(0xC0 | (code_point >> 6));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  } else {
    out += static_cast<char>(0xE0 | (code_point >> 12));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  }
  return out;
}

class DotCanvas {
 public:
  DotCanvas(int width, int height)
      : width_(width), height_(height), bits_(static_cast<size_t>(width) * height, 0) {}

  int dots_x() const { return width_ * 2; }
  int dots_y() const { return height_ * 4; }

  // Dot row 0 is the top.
  void Set(int x, int y) {
    if (x < 0 || y < 0 || x >= dots_x() || y >= dots_y()) return;
    bits_[static_cast<size_t>(y / 4) * width_ + x / 2] |= kDotBits[x % 2][y % 4];
  }
  void Line(int x0, int y0, int x1, int y1) {  // Bresenham
    const int dx = std::abs(x1 - x0), dy = -std::abs(y1 - y0);
    const int sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
    int error = dx + dy;
    while (true) {
      Set(x0, y0);
      if (x0 == x1 && y0 == y1) return;
      const int e2 = 2 * error;
      if (e2 >= dy) {
        error += dy;
        x0 += sx;
      }
      if (e2 <= dx) {
        error += dx;
        y0 += sy;
      }
    }
  }
  std::string Cell(int column, int row) const {
    const unsigned bits = bits_[static_cast<size_t>(row) * width_ + column];
    return bits == 0 ? " " : Utf8(0x2800 + bits);
  }

 private:
  int width_, height_;
  std::vector<unsigned> bits_;
};

}  // namespace

std::vector<double> Smooth(const std::vector<double>& values, double weight) {
  std::vector<double> out;
  out.reserve(values.size());
  double average = 0;
  double debias = 1;  // weight^n after n finite values
  for (double v : values) {
    if (!std::isfinite(v) || weight <= 0) {
      out.push_back(v);
      continue;
    }
    average = weight * average + (1 - weight) * v;
    debias *= weight;
    out.push_back(average / (1 - debias));
  }
  return out;
}

std::vector<std::string> RenderLineChart(const std::vector<ChartSeries>& series, int width,
                                         int height) {
  double x_lo = INFINITY, x_hi = -INFINITY, y_lo = INFINITY, y_hi = -INFINITY;
  for (const ChartSeries& s : series) {
    for (size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
      x_lo = std::min(x_lo, s.x[i]);
      x_hi = std::max(x_hi, s.x[i]);
      y_lo = std::min(y_lo, s.y[i]);
      y_hi = std::max(y_hi, s.y[i]);
    }
  }
  if (!std::isfinite(x_lo) || width < 1 || height < 1) return {};
  DotCanvas canvas(width, height);
  // A constant axis is drawn in its middle.
  auto dot_x = [&](double x) {
    return x_hi > x_lo ? static_cast<int>(std::lround((x - x_lo) / (x_hi - x_lo) * (canvas.dots_x() - 1)))
                       : canvas.dots_x() / 2;
  };
  auto dot_y = [&](double y) {
    return y_hi > y_lo ? static_cast<int>(std::lround((y_hi - y) / (y_hi - y_lo) * (canvas.dots_y() - 1)))
                       : canvas.dots_y() / 2;
  };
  std::vector<std::vector<std::string>> markers(height, std::vector<std::string>(width));
  for (const ChartSeries& s : series) {
    bool have_previous = false;
    int px = 0, py = 0;
    auto draw_to = [&](int x, int y) {
      if (have_previous) {
        canvas.Line(px, py, x, y);
      } else {
        canvas.Set(x, y);
      }
      have_previous = true;
      px = x;
      py = y;
    };
    // Consecutive points in one dot column are averaged into one, so a long
    // noisy series is a line through the column means, not a filled band.
    int column = -1;
    double sum = 0;
    int count = 0;
    for (size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
      const int x = dot_x(s.x[i]);
      if (!s.marker.empty()) {
        markers[dot_y(s.y[i]) / 4][x / 2] = s.marker;
        continue;
      }
      if (x != column && count > 0) draw_to(column, dot_y(sum / count));
      if (x != column) {
        column = x;
        sum = 0;
        count = 0;
      }
      sum += s.y[i];
      ++count;
    }
    if (count > 0) draw_to(column, dot_y(sum / count));
  }
  std::vector<std::string> rows;
  const int middle = height >= 3 ? height / 2 : -1;
  for (int r = 0; r < height; ++r) {
    std::string row;
    if (r == 0) {
      row = absl::StrFormat("%9.4g ┤", y_hi);
    } else if (r == height - 1) {
      row = absl::StrFormat("%9.4g ┤", y_lo);
    } else if (r == middle) {
      row = absl::StrFormat("%9.4g ┤", (y_lo + y_hi) / 2);
    } else {
      row = std::string(10, ' ') + "│";
    }
    for (int c = 0; c < width; ++c) {
      row += markers[r][c].empty() ? canvas.Cell(c, r) : markers[r][c];
    }
    rows.push_back(std::move(row));
  }
  std::string axis = std::string(10, ' ') + "└";
  for (int c = 0; c < width; ++c) axis += "─";
  rows.push_back(std::move(axis));
  const std::string left = absl::StrFormat("%.6g", x_lo), right = absl::StrFormat("%.6g", x_hi);
  const int gap = std::max(1, width + 1 - static_cast<int>(left.size() + right.size()));
  rows.push_back(std::string(11, ' ') + left + std::string(gap, ' ') + right);
  return rows;
}

}  // namespace trainyard::client
