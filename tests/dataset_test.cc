// CSV loading: valid variants give the right matrices; every bad input is
// INVALID_ARGUMENT with a message naming the line/column or option.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "core/dataset.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace trainyard {
namespace {

using ::testing::HasSubstr;

v1::CsvOptions Options(bool header, std::vector<std::string> labels = {},
                       v1::LabelKind kind = v1::CLASS_LABELS, std::string delim = "") {
  v1::CsvOptions o;
  o.set_has_header(header);
  for (auto& l : labels) o.add_label_columns(l);
  o.set_label_kind(kind);
  o.set_delimiter(delim);
  return o;
}

std::shared_ptr<const Dataset> MustLoad(const std::string& text, const v1::CsvOptions& o) {
  auto ds = LoadCsv(text, o);
  EXPECT_TRUE(ds.ok()) << ds.status();
  return ds.ok() ? *ds : nullptr;
}

// Expects INVALID_ARGUMENT whose message contains every fragment.
void ExpectError(const std::string& text, const v1::CsvOptions& o,
                 std::vector<std::string> fragments) {
  auto ds = LoadCsv(text, o);
  ASSERT_FALSE(ds.ok()) << "loaded: " << text;
  EXPECT_EQ(ds.status().code(), absl::StatusCode::kInvalidArgument) << ds.status();
  for (const auto& f : fragments) {
    EXPECT_THAT(std::string(ds.status().message()), HasSubstr(f)) << text;
  }
}

TEST(CsvTest, HeaderAndLastColumnLabelByDefault) {
  auto ds = MustLoad("a,b,label\n1,2,0\n3,4.5,2\n", Options(true));
  ASSERT_NE(ds, nullptr);
  EXPECT_EQ(ds->num_samples(), 2);
  EXPECT_EQ(ds->num_features(), 2);
  EXPECT_EQ(ds->target_dim(), 1);
  Matrix x(2, 2);
  x << 1, 3, 2, 4.5;  // one column per sample
  EXPECT_EQ(ds->features(), x);
  EXPECT_EQ(ds->targets()(0, 0), 0);
  EXPECT_EQ(ds->targets()(0, 1), 2);
  EXPECT_TRUE(ds->integer_labels());
  EXPECT_FALSE(ds->sign_labels());
  EXPECT_EQ(ds->num_classes(), 3);
  EXPECT_EQ(ds->min_target(), 0);
  EXPECT_EQ(ds->max_target(), 2);
  EXPECT_GE(ds->memory_bytes(), 6 * static_cast<int64_t>(sizeof(Scalar)));
}

TEST(CsvTest, NoHeaderSemicolonLabelByIndex) {
  auto ds = MustLoad("1;10;20\n0;11;21\n", Options(false, {"0"}, v1::CLASS_LABELS, ";"));
  ASSERT_NE(ds, nullptr);
  EXPECT_EQ(ds->num_features(), 2);
  EXPECT_EQ(ds->features()(0, 0), 10);
  EXPECT_EQ(ds->features()(1, 1), 21);
  EXPECT_EQ(ds->targets()(0, 0), 1);
  EXPECT_EQ(ds->targets()(0, 1), 0);
}

TEST(CsvTest, MiddleColumnLabelByName) {
  auto ds = MustLoad("x1,species,x2\n5,1,6\n7,0,8\n", Options(true, {"species"}));
  ASSERT_NE(ds, nullptr);
  Matrix x(2, 2);
  x << 5, 7, 6, 8;
  EXPECT_EQ(ds->features(), x);
  EXPECT_EQ(ds->targets()(0, 0), 1);
  EXPECT_EQ(ds->targets()(0, 1), 0);
}

TEST(CsvTest, TabDelimiter) {
  auto ds = MustLoad("1\t2\t0\n", Options(false, {}, v1::CLASS_LABELS, "\t"));
  ASSERT_NE(ds, nullptr);
  EXPECT_EQ(ds->num_features(), 2);
  EXPECT_EQ(ds->features()(1, 0), 2);
}

TEST(CsvTest, MultiTargetRegressionKeepsRequestedOrder) {
  v1::CsvOptions o = Options(true, {"y2", "y1"}, v1::REGRESSION_TARGETS);
  auto ds = MustLoad("y1,x,y2\n0.5,1,-2.25\n1e-3,2,3\n", o);
  ASSERT_NE(ds, nullptr);
  EXPECT_EQ(ds->num_features(), 1);
  EXPECT_EQ(ds->target_dim(), 2);
  EXPECT_FALSE(ds->integer_labels());
  EXPECT_EQ(ds->targets()(0, 0), -2.25f);  // y2 first
  EXPECT_EQ(ds->targets()(1, 0), 0.5f);
  EXPECT_FLOAT_EQ(ds->targets()(1, 1), 1e-3f);
  EXPECT_EQ(ds->min_target(), -2.25);
  EXPECT_EQ(ds->max_target(), 3);
}

TEST(CsvTest, SignLabels) {
  auto ds = MustLoad("1,+1\n2,-1\n3,1\n", Options(false));
  ASSERT_NE(ds, nullptr);
  EXPECT_TRUE(ds->integer_labels());
  EXPECT_TRUE(ds->sign_labels());
  EXPECT_EQ(ds->num_classes(), 2);
  EXPECT_EQ(ds->targets()(0, 0), 1);
  EXPECT_EQ(ds->targets()(0, 1), -1);
}

TEST(CsvTest, CrlfSpacesBomAndBlankLines) {
  const std::string text =
      "\xEF\xBB\xBF" "a , b\r\n 1 , 2 \r\n\r\n3,\t4\r\n\r\n  \r\n";
  auto ds = MustLoad(text, Options(true, {}, v1::REGRESSION_TARGETS));
  ASSERT_NE(ds, nullptr);
  EXPECT_EQ(ds->num_samples(), 2);
  EXPECT_EQ(ds->features()(0, 1), 3);
  EXPECT_EQ(ds->targets()(0, 0), 2);
  EXPECT_EQ(ds->targets()(0, 1), 4);
}

TEST(CsvTest, NoTrailingNewline) {
  auto ds = MustLoad("1,2\n3,4", Options(false, {}, v1::REGRESSION_TARGETS));
  ASSERT_NE(ds, nullptr);
  EXPECT_EQ(ds->num_samples(), 2);
  EXPECT_EQ(ds->targets()(0, 1), 4);
}

// Issue 9 class 12: the row count once came from the newlines after the
// first line, so an unterminated last row was written past the matrices
// (a heap-buffer-overflow under ASan). Every way of ending the last row must
// give all rows with their values.
TEST(CsvTest, EveryLastRowEndingGivesAllRows) {
  const std::vector<std::pair<std::string, bool>> cases = {
      {"1,2,0\n3,4,1\n5,6,0", false},                 // the fuzzer's case
      {"1,2,0\n3,4,1\n5,6,0\n", false},
      {"1,2,0\r\n3,4,1\r\n5,6,0", false},
      {"1,2,0\r\n3,4,1\r\n5,6,0\r\n", false},
      {"1,2,0\n3,4,1\n5,6,0\n\n\n", false},          // trailing blank lines
      {"1,2,0\n3,4,1\n5,6,0\n  \n\t", false},        // blank, last one unterminated
      {"\n\n1,2,0\n\n3,4,1\n\n5,6,0", false},         // leading and inner blanks
      {"a,b,c\n1,2,0\n3,4,1\n5,6,0", true},
      {"a,b,c\r\n1,2,0\r\n3,4,1\r\n5,6,0", true},
      {"a,b,c\n\n1,2,0\n3,4,1\n5,6,0\r\n\r\n", true},
      {"a,b,c\n1,2,0\n3,4,1\n5,6,0\r", true},          // a lone \r at the end
  };
  Matrix x(2, 3);
  x << 1, 3, 5, 2, 4, 6;
  Matrix y(1, 3);
  y << 0, 1, 0;
  for (const auto& [text, header] : cases) {
    SCOPED_TRACE(text);
    auto ds = MustLoad(text, Options(header, {"2"}));
    ASSERT_NE(ds, nullptr);
    EXPECT_EQ(ds->num_samples(), 3);
    EXPECT_EQ(ds->features(), x);
    EXPECT_EQ(ds->targets(), y);
  }
}

// The over-the-wire crash of issue 9: 3 rows of 2,000 columns, no final
// newline (the overflow then was a whole 2,000-value column).
TEST(CsvTest, WideRowsWithoutFinalNewline) {
  constexpr int kColumns = 2000;
  std::string text;
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < kColumns; ++c) {
      if (c > 0) text += ',';
      text += std::to_string(c == kColumns - 1 ? r % 2 : r * kColumns + c);
    }
    if (r < 2) text += '\n';
  }
  auto ds = MustLoad(text, Options(false));
  ASSERT_NE(ds, nullptr);
  ASSERT_EQ(ds->num_samples(), 3);
  ASSERT_EQ(ds->num_features(), kColumns - 1);
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < kColumns - 1; ++c) {
      ASSERT_EQ(ds->features()(c, r), r * kColumns + c) << "row " << r << " column " << c;
    }
    EXPECT_EQ(ds->targets()(0, r), r % 2);
  }
}

TEST(CsvTest, ErrorsCountFileLinesIncludingBlankOnes) {
  // Line 4 (after a header and a blank line) holds the bad value.
  ExpectError("a,b,c\n1,2,0\n\n1,abc,1\n", Options(true),
              {"line 4, column 2 (\"b\"): \"abc\" is not a number"});
}

TEST(CsvTest, NotANumberWithoutHeaderNamesLineAndColumn) {
  ExpectError("1,2,0\n1,2x,1\n", Options(false), {"line 2, column 2: \"2x\" is not a number"});
}

TEST(CsvTest, EmptyField) {
  ExpectError("1,,0\n", Options(false), {"line 1, column 2", "empty"});
}

TEST(CsvTest, RaggedRows) {
  ExpectError("a,b,c\n1,2,0\n1,2\n", Options(true), {"line 3 has 2 fields, expected 3"});
  ExpectError("a,b,c\n1,2,0,4\n", Options(true), {"line 2 has 4 fields, expected 3"});
}

TEST(CsvTest, NanAndInfAreRejected) {
  ExpectError("1,2,0\nnan,2,0\n", Options(false), {"line 2, column 1", "NaN or Inf"});
  ExpectError("1,-inf,0\n", Options(false), {"line 1, column 2", "NaN or Inf"});
}

TEST(CsvTest, OutOfFloatRange) {
  ExpectError("1,1e39,0\n", Options(false), {"line 1, column 2", "out of range"});
}

TEST(CsvTest, NoDataRows) {
  ExpectError("", Options(false), {"no data rows"});
  ExpectError("\n  \n", Options(false), {"no data rows"});
  ExpectError("a,b\n", Options(true), {"no data rows"});
  ExpectError("a,b\r\n\r\n", Options(true), {"no data rows"});
}

TEST(CsvTest, LabelColumnErrors) {
  ExpectError("a,b\n1,0\n", Options(true, {"species"}), {"\"species\"", "not in the header", "a, b"});
  ExpectError("1,0\n", Options(false, {"species"}), {"\"species\"", "no header"});
  ExpectError("1,0\n", Options(false, {"2"}), {"index 2 is out of range", "2 columns"});
  ExpectError("1,0\n", Options(false, {"-1"}), {"index -1 is out of range"});
  ExpectError("a,b,c\n1,0,2\n", Options(true, {"b", "1"}, v1::REGRESSION_TARGETS),
              {"\"1\" is given twice"});
  ExpectError("a,b\n1,0\n", Options(true, {"a", "b"}, v1::REGRESSION_TARGETS),
              {"no features"});
  ExpectError("a,b,c\n1,0,2\n", Options(true, {"b", "c"}, v1::CLASS_LABELS),
              {"CLASS_LABELS takes exactly one label column, got 2"});
}

TEST(CsvTest, ClassLabelErrorsNameLineAndColumn) {
  ExpectError("x,y\n1,0\n2,1.5\n", Options(true), {"line 3, column 2 (\"y\")", "1.5", "not an integer"});
  ExpectError("x,y\n1,0\n2,-2\n", Options(true), {"line 3, column 2 (\"y\")", "-2", "negative"});
  // -1 is a sign, which cannot be mixed with the class 0.
  ExpectError("1,1\n2,-1\n3,0\n", Options(false), {"line 3, column 2", "-1 at line 2"});
  ExpectError("1,2\n2,1\n3,-1\n", Options(false), {"line 3, column 2", "2 at line 1"});
}

TEST(CsvTest, RegressionAcceptsAnyFiniteTarget) {
  auto ds = MustLoad("1,-2.5\n", Options(false, {}, v1::REGRESSION_TARGETS));
  ASSERT_NE(ds, nullptr);
  EXPECT_EQ(ds->targets()(0, 0), -2.5f);
}

TEST(CsvTest, QuotesAreAClearError) {
  ExpectError("x,y\n\"1\",0\n", Options(true), {"line 2, column 1", "quoted fields are not supported"});
  ExpectError("\"x\",y\n1,0\n", Options(true), {"line 1", "quoted fields are not supported"});
}

TEST(CsvTest, BadOptions) {
  ExpectError("1,0\n", Options(false, {}, v1::CLASS_LABELS, ";;"), {"delimiter"});
  ExpectError("1,0\n", Options(false, {}, v1::CLASS_LABELS, "."), {"delimiter"});
  v1::CsvOptions o = Options(false);
  o.set_label_kind(static_cast<v1::LabelKind>(7));
  ExpectError("1,0\n", o, {"label_kind"});
  o = Options(false);
  o.set_preprocessing(static_cast<v1::Preprocessing>(9));
  ExpectError("1,0\n", o, {"preprocessing"});
}

TEST(CsvTest, LimitOnValues) {
  DataLimits limits;
  limits.max_values = 3;
  auto ds = LoadCsv("1,2,0\n3,4,1\n", Options(false), limits);
  ASSERT_FALSE(ds.ok());
  EXPECT_EQ(ds.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(ds.status().message()), HasSubstr("limit"));
}

TEST(CsvTest, PreprocessingIsRecorded) {
  v1::CsvOptions o = Options(false);
  o.set_preprocessing(v1::STANDARDIZE);
  auto ds = MustLoad("1,0\n", o);
  ASSERT_NE(ds, nullptr);
  EXPECT_EQ(ds->preprocessing(), v1::STANDARDIZE);
}

}  // namespace
}  // namespace trainyard
