// CSV loading (LoadCsv in core/dataset.h). One pass over the text, numbers
// parsed with std::from_chars straight into the column-major feature matrix,
// so a 50 MB file loads in well under a second.
#include <charconv>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/dataset.h"

namespace trainyard {
namespace {

// Splits text into lines without their "\n" or "\r\n", counting 1-based lines.
class LineReader {
 public:
  explicit LineReader(std::string_view text) : text_(text) {}

  bool Next(std::string_view& line) {
    if (pos_ >= text_.size()) return false;
    size_t end = text_.find('\n', pos_);
    if (end == std::string_view::npos) end = text_.size();
    line = text_.substr(pos_, end - pos_);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    pos_ = end + 1;
    ++line_no_;
    return true;
  }
  int64_t line_no() const { return line_no_; }

 private:
  std::string_view text_;
  size_t pos_ = 0;
  int64_t line_no_ = 0;
};

// absl::string_view is its own type in Debian's abseil build; StrCat wants it.
absl::string_view AV(std::string_view s) { return absl::string_view(s.data(), s.size()); }

bool IsSpace(char ch, char delim) { return (ch == ' ' || ch == '\t') && ch != delim; }

std::string_view Trim(std::string_view s, char delim) {
  while (!s.empty() && IsSpace(s.front(), delim)) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back(), delim)) s.remove_suffix(1);
  return s;
}

bool IsBlank(std::string_view line, char delim) { return Trim(line, delim).empty(); }

std::vector<std::string_view> SplitFields(std::string_view line, char delim) {
  std::vector<std::string_view> fields;
  size_t start = 0;
  for (;;) {
    const size_t end = line.find(delim, start);
    if (end == std::string_view::npos) {
      fields.push_back(line.substr(start));
      return fields;
    }
    fields.push_back(line.substr(start, end - start));
    start = end + 1;
  }
}

int64_t CountFields(std::string_view line, char delim) {
  int64_t n = 1;
  for (char ch : line) n += ch == delim;
  return n;
}

// The non-blank lines from `current` (already read by `reader`) to the end,
// read the way LoadCsv's row loop reads them.
int64_t CountRows(LineReader reader, std::string_view current, char delim) {
  int64_t rows = IsBlank(current, delim) ? 0 : 1;
  std::string_view line;
  while (reader.Next(line)) rows += IsBlank(line, delim) ? 0 : 1;
  return rows;
}

// Everything the per-line loop needs to name a place in an error.
struct Layout {
  char delim = ',';
  int num_columns = 0;
  std::vector<std::string> names;  // header names, empty without a header
  // dest[c] >= 0: feature row; dest[c] < 0: target row -dest[c] - 1.
  std::vector<int> dest;
};

std::string Place(const Layout& layout, int64_t line_no, int column) {
  std::string place = absl::StrCat("line ", line_no, ", column ", column + 1);
  if (!layout.names.empty()) absl::StrAppend(&place, " (\"", layout.names[column], "\")");
  return place;
}

absl::Status FieldError(const Layout& layout, int64_t line_no, int column,
                        std::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat(Place(layout, line_no, column), ": ", AV(what)));
}

// Parses one field as a finite number.
absl::Status ParseNumber(std::string_view raw, const Layout& layout,
                         int64_t line_no, int column, double& value) {
  std::string_view field = Trim(raw, layout.delim);
  // from_chars rejects a leading '+', which sign labels ("+1") often carry.
  if (field.size() > 1 && field[0] == '+' && field[1] != '-' && field[1] != '+') {
    field.remove_prefix(1);
  }
  // Fast path for short plain integers (pixels, labels), the bulk of large
  // CSVs: about three times faster than from_chars, and exact.
  if (!field.empty() && field.size() <= 9) {
    const bool negative = field[0] == '-';
    size_t i = negative ? 1 : 0;
    if (i < field.size()) {
      int64_t v = 0;
      for (; i < field.size(); ++i) {
        const unsigned digit = static_cast<unsigned char>(field[i]) - '0';
        if (digit > 9) break;
        v = v * 10 + digit;
      }
      if (i == field.size()) {
        value = static_cast<double>(negative ? -v : v);
        return absl::OkStatus();
      }
    }
  }
  const char* first = field.data();
  const char* last = field.data() + field.size();
  const auto [ptr, ec] = std::from_chars(first, last, value);
  if (ec == std::errc() && ptr == last) {
    if (!std::isfinite(value)) {
      return FieldError(layout, line_no, column,
                        absl::StrCat("\"", AV(field), "\" is NaN or Inf; values must be finite"));
    }
    if (!std::isfinite(static_cast<Scalar>(value))) {
      return FieldError(layout, line_no, column,
                        absl::StrCat("\"", AV(field), "\" is out of range"));
    }
    return absl::OkStatus();
  }
  if (ec == std::errc::result_out_of_range && ptr == last) {
    return FieldError(layout, line_no, column,
                      absl::StrCat("\"", AV(field), "\" is out of range"));
  }
  if (raw.find('"') != std::string_view::npos) {
    return FieldError(layout, line_no, column,
                      "quoted fields are not supported (found '\"')");
  }
  if (field.empty()) return FieldError(layout, line_no, column, "empty field; expected a number");
  return FieldError(layout, line_no, column,
                    absl::StrCat("\"", AV(field), "\" is not a number"));
}

absl::StatusOr<char> Delimiter(const v1::CsvOptions& options) {
  if (options.delimiter().empty()) return ',';
  if (options.delimiter().size() != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "delimiter must be one character, got \"", options.delimiter(), "\""));
  }
  const char d = options.delimiter()[0];
  if (d == '"' || d == '\n' || d == '\r' || d == '.' || d == '-' || d == '+' ||
      (d >= '0' && d <= '9')) {
    return absl::InvalidArgumentError(absl::StrCat(
        "delimiter '", std::string(1, d), "' cannot separate numbers"));
  }
  return d;
}

// Maps options.label_columns (names or 0-based indices) to column indices.
absl::StatusOr<std::vector<int>> ResolveLabelColumns(const v1::CsvOptions& options,
                                                     const Layout& layout) {
  std::vector<int> columns;
  if (options.label_columns().empty()) {
    columns.push_back(layout.num_columns - 1);
    return columns;
  }
  for (const std::string& spec : options.label_columns()) {
    int column = -1;
    for (size_t c = 0; c < layout.names.size(); ++c) {
      if (layout.names[c] == spec) {
        column = static_cast<int>(c);
        break;
      }
    }
    if (column < 0) {
      int index = 0;
      const auto [ptr, ec] = std::from_chars(spec.data(), spec.data() + spec.size(), index);
      if (spec.empty() || ec != std::errc() || ptr != spec.data() + spec.size()) {
        if (layout.names.empty()) {
          return absl::InvalidArgumentError(absl::StrCat(
              "label column \"", spec,
              "\" is not a 0-based column index, and the file has no header to "
              "look up names in"));
        }
        return absl::InvalidArgumentError(absl::StrCat(
            "label column \"", spec, "\" is not in the header (columns: ",
            absl::StrJoin(layout.names, ", "), ")"));
      }
      if (index < 0 || index >= layout.num_columns) {
        return absl::InvalidArgumentError(absl::StrCat(
            "label column index ", index, " is out of range: the file has ",
            layout.num_columns, " columns (0-based indices 0-",
            layout.num_columns - 1, ")"));
      }
      column = index;
    }
    for (int previous : columns) {
      if (previous == column) {
        return absl::InvalidArgumentError(absl::StrCat(
            "label column \"", spec, "\" is given twice (0-based column ", column, ")"));
      }
    }
    columns.push_back(column);
  }
  return columns;
}

// Tracks what class labels have been seen, to tell classes from signs.
struct LabelCheck {
  int64_t first_minus_one_line = 0;  // 0: none seen
  int64_t first_non_sign_line = 0;   // a 0 or >= 2 label
  double first_non_sign_value = 0;
};

constexpr double kMaxClassLabel = 1 << 24;  // still exact in float

absl::Status CheckClassLabel(double v, const Layout& layout, int64_t line_no,
                             int column, LabelCheck& seen) {
  if (v != std::floor(v)) {
    return FieldError(layout, line_no, column, absl::StrCat(
        "label ", v, " is not an integer (CLASS_LABELS needs integer classes)"));
  }
  if (v < 0 && v != -1) {
    return FieldError(layout, line_no, column, absl::StrCat(
        "label ", v, " is negative; class labels must be >= 0, or all -1/+1 (signs)"));
  }
  if (v >= kMaxClassLabel) {
    return FieldError(layout, line_no, column, absl::StrCat(
        "label ", v, " is too large (class labels must be < ", kMaxClassLabel, ")"));
  }
  if (v == -1) {
    if (seen.first_minus_one_line == 0) seen.first_minus_one_line = line_no;
  } else if (v != 1 && seen.first_non_sign_line == 0) {
    seen.first_non_sign_line = line_no;
    seen.first_non_sign_value = v;
  }
  if (seen.first_minus_one_line != 0 && seen.first_non_sign_line != 0) {
    return FieldError(layout, line_no, column, absl::StrCat(
        "label ", v, " mixes sign labels (-1 at line ",
        seen.first_minus_one_line, ") with class labels (", seen.first_non_sign_value,
        " at line ", seen.first_non_sign_line,
        "); labels must be all >= 0 or all -1/+1"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::shared_ptr<const Dataset>> LoadCsv(
    std::string_view text, const v1::CsvOptions& options, const DataLimits& limits) {
  if (!v1::LabelKind_IsValid(options.label_kind())) {
    return absl::InvalidArgumentError(
        absl::StrCat("label_kind: unknown value ", options.label_kind()));
  }
  if (!v1::Preprocessing_IsValid(options.preprocessing())) {
    return absl::InvalidArgumentError(
        absl::StrCat("preprocessing: unknown value ", options.preprocessing()));
  }
  Layout layout;
  auto delim = Delimiter(options);
  if (!delim.ok()) return delim.status();
  layout.delim = *delim;

  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);  // UTF-8 BOM
  LineReader reader(text);
  std::string_view line;
  bool have_line = false;
  while ((have_line = reader.Next(line)) && IsBlank(line, layout.delim)) {}
  if (!have_line) return absl::InvalidArgumentError("no data rows: the file is empty");

  // The header, or the first data row, fixes the number of columns.
  const std::vector<std::string_view> first_fields = SplitFields(line, layout.delim);
  layout.num_columns = static_cast<int>(first_fields.size());
  if (options.has_header()) {
    if (line.find('"') != std::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "line ", reader.line_no(), " (header): quoted fields are not supported (found '\"')"));
    }
    for (std::string_view name : first_fields) {
      layout.names.emplace_back(Trim(name, layout.delim));
    }
    while ((have_line = reader.Next(line)) && IsBlank(line, layout.delim)) {}
    if (!have_line) {
      return absl::InvalidArgumentError("no data rows: the file has only a header");
    }
  }

  auto label_columns = ResolveLabelColumns(options, layout);
  if (!label_columns.ok()) return label_columns.status();
  const int num_targets = static_cast<int>(label_columns->size());
  const int num_features = layout.num_columns - num_targets;
  if (num_features == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "all ", layout.num_columns, " columns are label columns; no features are left"));
  }
  const bool classes = options.label_kind() == v1::CLASS_LABELS;
  if (classes && num_targets != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "CLASS_LABELS takes exactly one label column, got ", num_targets,
        "; use REGRESSION_TARGETS for several targets"));
  }
  layout.dest.assign(layout.num_columns, 0);
  for (int t = 0; t < num_targets; ++t) layout.dest[(*label_columns)[t]] = -t - 1;
  for (int c = 0, f = 0; c < layout.num_columns; ++c) {
    if (layout.dest[c] >= 0) layout.dest[c] = f++;
  }

  // The exact row count, for one allocation: counted by a copy of the reader
  // with the same blank-line rule as the loop below, so the two cannot
  // disagree (a newline count once missed an unterminated last line and the
  // loop wrote past the matrices). The loop still checks each row against it.
  const int64_t num_rows = CountRows(reader, line, layout.delim);
  if (num_rows > limits.max_values / num_features) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the file has ", num_rows, " rows of ", num_features,
        " features, more than the limit of ", limits.max_values, " values"));
  }
  if (limits.reserve_memory) {
    const int64_t values = num_rows * (num_features + num_targets);
    if (absl::Status s = limits.reserve_memory(values * static_cast<int64_t>(sizeof(Scalar)));
        !s.ok()) {
      return s;
    }
  }
  Matrix features(num_features, num_rows);
  Matrix targets(num_targets, num_rows);
  LabelCheck seen;
  int64_t rows = 0;
  do {
    if (IsBlank(line, layout.delim)) continue;
    const int64_t line_no = reader.line_no();
    if (rows >= num_rows) {
      return absl::InternalError(absl::StrCat(
          "line ", line_no, ": more rows than counted (", num_rows, "); this is a bug"));
    }
    Scalar* feature_col = features.data() + rows * num_features;
    Scalar* target_col = targets.data() + rows * num_targets;
    size_t start = 0;
    int column = 0;
    bool too_many = false;
    for (;;) {
      size_t end = line.find(layout.delim, start);
      const bool last = end == std::string_view::npos;
      if (last) end = line.size();
      if (column == layout.num_columns) {
        too_many = true;  // reported below
        break;
      }
      double value;
      if (absl::Status s = ParseNumber(line.substr(start, end - start), layout,
                                       line_no, column, value);
          !s.ok()) {
        return s;
      }
      const int dest = layout.dest[column];
      if (dest >= 0) {
        feature_col[dest] = static_cast<Scalar>(value);
      } else {
        if (classes) {
          if (absl::Status s = CheckClassLabel(value, layout, line_no, column, seen);
              !s.ok()) {
            return s;
          }
        }
        target_col[-dest - 1] = static_cast<Scalar>(value);
      }
      ++column;
      if (last) break;
      start = end + 1;
    }
    if (too_many || column != layout.num_columns) {
      return absl::InvalidArgumentError(absl::StrCat(
          "line ", line_no, " has ", CountFields(line, layout.delim),
          " fields, expected ", layout.num_columns));
    }
    ++rows;
  } while (reader.Next(line));

  if (rows == 0) return absl::InvalidArgumentError("no data rows");
  if (rows != num_rows) {
    return absl::InternalError(absl::StrCat("read ", rows, " rows but counted ", num_rows,
                                            "; this is a bug"));
  }
  return std::make_shared<const Dataset>(std::move(features), std::move(targets),
                                         classes, options.preprocessing());
}

}  // namespace trainyard
