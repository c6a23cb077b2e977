// LoadCsv, as a dataset upload reaches it (server/dataset_cache.cc's
// ParseDataset), with the upload's CsvOptions taken from the input so that
// one corpus covers headers, label columns, kinds and delimiters:
//
//   byte 0, minus '0':  bit 0 has_header, bit 1 REGRESSION_TARGETS,
//                       bits 2-3 preprocessing (NONE, SCALE_01, STANDARDIZE),
//                       bits 4-5 delimiter (',' ';' '\t' '|')
//   up to the first '\n': label_columns, separated by ' ' (empty: the last
//                       column), e.g. "label" or "2 3"
//   the rest:           the CSV text
//
// So "1label\nx,y,label\n1,2,0\n" is a CSV with a header and label column
// "label" (the seed files in corpus/csv/ are written that way).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/dataset.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  const uint8_t flags = static_cast<uint8_t>(input[0] - '0');
  input.remove_prefix(1);
  const size_t eol = input.find('\n');
  if (eol == std::string_view::npos || eol > 64) return 0;  // options line required
  const std::string_view labels = input.substr(0, eol);
  const std::string_view text = input.substr(eol + 1);

  trainyard::v1::CsvOptions options;
  options.set_has_header(flags & 1);
  options.set_label_kind((flags & 2) ? trainyard::v1::REGRESSION_TARGETS
                                     : trainyard::v1::CLASS_LABELS);
  options.set_preprocessing(static_cast<trainyard::v1::Preprocessing>(((flags >> 2) & 3) % 3));
  static constexpr char kDelimiters[] = {',', ';', '\t', '|'};
  options.set_delimiter(std::string(1, kDelimiters[(flags >> 4) & 3]));
  for (size_t start = 0; start < labels.size();) {
    const size_t end = std::min(labels.find(' ', start), labels.size());
    if (end > start) options.add_label_columns(std::string(labels.substr(start, end - start)));
    start = end + 1;
  }

  // Small limits, as a server would set them, so that no input makes the
  // fuzzer run out of memory through a legitimately large dataset.
  trainyard::DataLimits limits;
  limits.max_values = int64_t{1} << 20;
  limits.max_decompressed_bytes = int64_t{1} << 20;
  auto dataset = trainyard::LoadCsv(text, options, limits);
  if (dataset.ok()) {
    // What a loaded dataset promises (core/dataset.h), checked on every input.
    const trainyard::Dataset& ds = **dataset;
    if (ds.features().cols() != ds.targets().cols()) __builtin_trap();
    if (!ds.features().allFinite() || !ds.targets().allFinite()) __builtin_trap();
    if (ds.integer_labels() && ds.target_dim() != 1) __builtin_trap();
  }
  return 0;
}
