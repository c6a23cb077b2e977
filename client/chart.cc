#include "client/chart.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_format.h"

namespace trainyard::client {
namespace {

// Index = eighths of a cell filled from the bottom.
constexpr const char* kBlocks[] = {" ", "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};

std::vector<double> Bucket(const std::vector<double>& values, int width) {
  const size_t n = values.size();
  if (n <= static_cast<size_t>(width)) return values;
  std::vector<double> columns(width);
  for (int i = 0; i < width; ++i) {
    const size_t begin = i * n / width, end = (i + 1) * n / width;
    double sum = 0;
    for (size_t j = begin; j < end; ++j) sum += values[j];
    columns[i] = sum / static_cast<double>(end - begin);
  }
  return columns;
}

}  // namespace

std::vector<std::string> RenderChart(const std::vector<double>& values,
                                     int width, int height) {
  std::vector<double> finite;
  for (double v : values) {
    if (std::isfinite(v)) finite.push_back(v);
  }
  if (finite.empty() || width < 1 || height < 1) return {};
  const std::vector<double> columns = Bucket(finite, width);
  const auto [min_it, max_it] = std::minmax_element(columns.begin(), columns.end());
  const double lo = *min_it, hi = *max_it;
  const int levels = height * 8;

  std::vector<int> level(columns.size());
  for (size_t i = 0; i < columns.size(); ++i) {
    level[i] = hi > lo ? 1 + static_cast<int>(std::lround((columns[i] - lo) /
                                                          (hi - lo) * (levels - 1)))
                       : levels / 2;
  }
  std::vector<std::string> rows;
  for (int r = 0; r < height; ++r) {
    std::string label(10, ' ');
    if (r == 0) label = absl::StrFormat("%9.4g ", hi);
    if (r == height - 1 && height > 1) label = absl::StrFormat("%9.4g ", lo);
    std::string row = label + "│";
    const int base = (height - 1 - r) * 8;
    for (int l : level) row += kBlocks[std::clamp(l - base, 0, 8)];
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace trainyard::client
