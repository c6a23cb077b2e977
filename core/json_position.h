// Positions in JSON text, for error messages that point at a line and column.
//
// protobuf's JsonStringToMessage reports an unknown field or a bad value by
// its field path ("(optimizer) adamm: Cannot find field.") and a syntax error
// by a snippet of the text, never by a line. These helpers give the line:
// one strict scan of the text finds the first syntax error's byte offset, or
// the byte offset of the member a field path names, and PositionAt turns an
// offset into the 1-based line and column an editor shows.
//
//   if (auto error = FindJsonSyntaxError(text)) {
//     TextPosition at = PositionAt(text, error->offset);   // line 3, column 9
//   }
//   std::optional<JsonLocation> where = FindJsonPath(text, "layers[1].dense.unit");
#ifndef TRAINYARD_CORE_JSON_POSITION_H_
#define TRAINYARD_CORE_JSON_POSITION_H_

#include <cstddef>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace trainyard {

// 1-based. Columns count characters (UTF-8 code points), not bytes, as
// editors do; a tab is one column.
struct TextPosition {
  int line = 1;
  int column = 1;
};

// The position of byte `offset` in `text` (offset >= size: just past the end).
TextPosition PositionAt(absl::string_view text, size_t offset);

// "line 3, column 9".
std::string FormatPosition(TextPosition position);

struct JsonSyntaxError {
  size_t offset = 0;  // the first byte that cannot continue a valid document
  std::string what;   // "expected ':' after an object key"
};

// The first error in `text` as one strict RFC 8259 JSON value (no comments,
// no trailing commas, nothing after the value), or a key repeated in one
// object (compared as FindJsonPath compares them): protobuf's parser would
// silently keep the last, and a repeated key in a config is a mistake.
// nullopt when it is valid.
// Nesting deeper than 512 levels is an error, so the scan cannot overflow
// the stack on hostile input.
std::optional<JsonSyntaxError> FindJsonSyntaxError(absl::string_view text);

// Where the member or element that a field path names starts.
struct JsonLocation {
  size_t key_offset = 0;    // the member's key (an array element's value)
  size_t value_offset = 0;  // its value
};

// Finds `path` in `text`: dot-separated member names with [index] for array
// elements, "optimizer.adam.beta1" or "layers[2].dense.units"; "" is the
// whole document. A name matches a key written in snake_case or lowerCamelCase
// (the protobuf JSON mapping accepts both): they are compared lowercased with
// underscores removed. The first matching key wins. nullopt when the path is
// not in the text, or the text is not valid JSON before the path is reached.
std::optional<JsonLocation> FindJsonPath(absl::string_view text, absl::string_view path);

}  // namespace trainyard

#endif  // TRAINYARD_CORE_JSON_POSITION_H_
