// core/json_position.h: offsets to lines and columns, the strict syntax scan
// and field paths to the member they name.
#include "core/json_position.h"

#include <string>

#include "gtest/gtest.h"

namespace trainyard {
namespace {

std::string At(absl::string_view text, size_t offset) {
  return FormatPosition(PositionAt(text, offset));
}

TEST(JsonPosition, OffsetsBecomeOneBasedLinesAndCharacterColumns) {
  const std::string text = "{\n  \"a\": 1,\n\t\"b\": 2\n}";
  EXPECT_EQ(At(text, 0), "line 1, column 1");
  EXPECT_EQ(At(text, 4), "line 2, column 3");   // "a"
  EXPECT_EQ(At(text, 13), "line 3, column 2");  // "b", after a tab
  EXPECT_EQ(At(text, 1000), "line 4, column 2");  // past the end
  // "é" is two bytes and one column.
  const std::string utf8 = "{\"n\": \"\xC3\xA9\", \"x\": 1}";
  EXPECT_EQ(At(utf8, utf8.find("\"x\"")), "line 1, column 12");
}

TEST(JsonPosition, ValidDocumentsHaveNoSyntaxError) {
  for (const char* text : {"{}", " [1, -2.5e+3, true, false, null, \"s\\n\\u00e9\"] ",
                           "{\"a\": {\"b\": [{}]}}", "0", "\"x\""}) {
    EXPECT_FALSE(FindJsonSyntaxError(text).has_value()) << text;
  }
}

TEST(JsonPosition, SyntaxErrorsPointAtTheFirstBadByte) {
  struct Case {
    const char* text;
    size_t offset;
    const char* what;
  } cases[] = {
      {"{\"a\": 1,, }", 8, "expected a string key"},
      {"{\"a\" 1}", 5, "expected ':'"},
      {"{\"a\": 1", 7, "expected ',' or '}'"},
      {"[1 2]", 3, "expected ',' or ']'"},
      {"{\"a\": 01}", 7, "leading zeros"},
      {"{\"a\": tru}", 6, "expected a value"},
      {"{\"a\": \"x}", 9, "unterminated string"},
      {"{\"a\": 1} x", 9, "after the JSON value"},
      {"{\"a\": 1, \"a\": 2}", 9, "duplicate key \"a\""},
      {"{\"batch_size\": 1, \"batchSize\": 2}", 18, "duplicate key \"batchSize\""},
      {"", 0, "unexpected end"},
      {"{\"a\": 1.}", 8, "after the decimal point"},
  };
  for (const Case& c : cases) {
    std::optional<JsonSyntaxError> error = FindJsonSyntaxError(c.text);
    ASSERT_TRUE(error.has_value()) << c.text;
    EXPECT_EQ(error->offset, c.offset) << c.text << ": " << error->what;
    EXPECT_NE(error->what.find(c.what), std::string::npos) << c.text << ": " << error->what;
  }
  // Keys in different objects may repeat.
  EXPECT_FALSE(FindJsonSyntaxError("[{\"a\": 1}, {\"a\": 2}]").has_value());
}

TEST(JsonPosition, DeepNestingIsAnErrorNotACrash) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  std::optional<JsonSyntaxError> error = FindJsonSyntaxError(deep);
  ASSERT_TRUE(error.has_value());
  EXPECT_NE(error->what.find("512"), std::string::npos);
}

TEST(JsonPosition, PathsFindKeysAndValuesInEitherSpelling) {
  const std::string text =
      "{\n"
      "  \"inputDim\": 2,\n"
      "  \"layers\": [\n"
      "    {\"dense\": {\"units\": 3}},\n"
      "    {\"dense\": {\"unit\": 3}}\n"
      "  ]\n"
      "}";
  std::optional<JsonLocation> at = FindJsonPath(text, "layers[1].dense.unit");
  ASSERT_TRUE(at.has_value());
  EXPECT_EQ(At(text, at->key_offset), "line 5, column 16");
  EXPECT_EQ(At(text, at->value_offset), "line 5, column 24");
  at = FindJsonPath(text, "input_dim");  // snake_case finds lowerCamelCase
  ASSERT_TRUE(at.has_value());
  EXPECT_EQ(At(text, at->key_offset), "line 2, column 3");
  at = FindJsonPath(text, "layers[0]");  // an element: key and value coincide
  ASSERT_TRUE(at.has_value());
  EXPECT_EQ(At(text, at->key_offset), "line 4, column 5");
  EXPECT_EQ(at->key_offset, at->value_offset);
  at = FindJsonPath(text, "");
  ASSERT_TRUE(at.has_value());
  EXPECT_EQ(at->key_offset, 0u);

  EXPECT_FALSE(FindJsonPath(text, "layers[2]").has_value());
  EXPECT_FALSE(FindJsonPath(text, "layers[0].dense.units.x").has_value());
  EXPECT_FALSE(FindJsonPath(text, "missing").has_value());
  EXPECT_FALSE(FindJsonPath(text, "layers[x]").has_value());
  EXPECT_FALSE(FindJsonPath(text, "layers[-1]").has_value());
  // A key with the same name inside a sibling is not the path.
  EXPECT_FALSE(FindJsonPath("{\"a\": {\"b\": 1}, \"c\": {}}", "c.b").has_value());
}

TEST(JsonPosition, PathFoundBeforeASyntaxErrorStillCounts) {
  // The server reports the parser's field error, which comes first.
  std::optional<JsonLocation> at = FindJsonPath("{\"a\": 1, \"b\": ", "a");
  ASSERT_TRUE(at.has_value());
  EXPECT_EQ(at->key_offset, 1u);
}

}  // namespace
}  // namespace trainyard
