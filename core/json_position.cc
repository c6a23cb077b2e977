#include "core/json_position.h"

#include <cstdint>
#include <span>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace trainyard {
namespace {

constexpr int kMaxDepth = 512;

// One step of a field path: a member name, or an array index.
struct Segment {
  std::string name;  // normalised (see Normalize); empty for an index
  int64_t index = -1;
};

// snake_case and lowerCamelCase spellings of one proto field compare equal.
std::string Normalize(absl::string_view name) {
  std::string out;
  out.reserve(name.size());
  for (char c : name) {
    if (c != '_') out.push_back(absl::ascii_tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

std::optional<std::vector<Segment>> ParsePath(absl::string_view path) {
  std::vector<Segment> segments;
  size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '[') {
      const size_t close = path.find(']', i);
      if (close == absl::string_view::npos) return std::nullopt;
      Segment s;
      if (!absl::SimpleAtoi(path.substr(i + 1, close - i - 1), &s.index) || s.index < 0) {
        return std::nullopt;
      }
      segments.push_back(std::move(s));
      i = close + 1;
      if (i < path.size() && path[i] == '.') ++i;
      continue;
    }
    size_t end = i;
    while (end < path.size() && path[end] != '.' && path[end] != '[') ++end;
    if (end == i) return std::nullopt;
    segments.push_back(Segment{Normalize(path.substr(i, end - i))});
    i = end;
    if (i < path.size() && path[i] == '.') ++i;
  }
  return segments;
}

// A recursive-descent scan of one JSON value that validates as it goes and,
// when given a path, records where the path's last segment is.
class Scanner {
 public:
  explicit Scanner(absl::string_view text) : text_(text) {}

  // Scans the whole text; false (with error()) on the first syntax error.
  bool Document(std::span<const Segment> path) {
    SkipSpace();
    if (path.empty()) found_ = JsonLocation{pos_, pos_};
    if (!Value(0, path)) return false;
    SkipSpace();
    if (pos_ < text_.size()) return Fail("unexpected text after the JSON value");
    return true;
  }

  const JsonSyntaxError& error() const { return error_; }
  const std::optional<JsonLocation>& found() const { return found_; }

 private:
  bool Fail(std::string what) {
    error_ = JsonSyntaxError{pos_, std::move(what)};
    return false;
  }

  void SkipSpace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\n' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }

  bool Value(int depth, std::span<const Segment> path) {
    if (depth > kMaxDepth) return Fail("nested more than 512 levels deep");
    if (pos_ >= text_.size()) return Fail("unexpected end of text, expected a value");
    const char c = text_[pos_];
    if (c == '{') return Object(depth, path);
    if (c == '[') return Array(depth, path);
    if (c == '"') return String(nullptr);
    if (c == '-' || (c >= '0' && c <= '9')) return Number();
    for (absl::string_view word : {"true", "false", "null"}) {
      if (text_.substr(pos_, word.size()) == word) {
        pos_ += word.size();
        return true;
      }
    }
    return Fail("expected a value (object, array, string, number, true, false or null)");
  }

  bool Object(int depth, std::span<const Segment> path) {
    ++pos_;  // '{'
    std::vector<std::string> keys;  // normalised; objects in specs are small
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == '}') {
      ++pos_;
      return true;
    }
    while (true) {
      SkipSpace();
      if (pos_ >= text_.size() || text_[pos_] != '"') {
        return Fail("expected a string key (\"name\") in the object");
      }
      const size_t key_offset = pos_;
      std::string key;
      if (!String(&key)) return false;
      std::string normalized = Normalize(key);
      for (const std::string& seen : keys) {
        if (seen == normalized) {
          pos_ = key_offset;
          return Fail(absl::StrCat("duplicate key \"", key, "\" in one object"));
        }
      }
      keys.push_back(normalized);
      SkipSpace();
      if (pos_ >= text_.size() || text_[pos_] != ':') return Fail("expected ':' after the key");
      ++pos_;
      SkipSpace();
      std::span<const Segment> rest;
      if (!found_ && !path.empty() && path[0].index < 0 && normalized == path[0].name) {
        rest = path.subspan(1);
        if (rest.empty()) found_ = JsonLocation{key_offset, pos_};
      }
      if (!Value(depth + 1, rest)) return false;
      SkipSpace();
      if (pos_ < text_.size() && text_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < text_.size() && text_[pos_] == '}') {
        ++pos_;
        return true;
      }
      return Fail("expected ',' or '}' after the object member");
    }
  }

  bool Array(int depth, std::span<const Segment> path) {
    ++pos_;  // '['
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == ']') {
      ++pos_;
      return true;
    }
    for (int64_t i = 0;; ++i) {
      SkipSpace();
      std::span<const Segment> rest;
      if (!found_ && !path.empty() && path[0].index == i) {
        rest = path.subspan(1);
        if (rest.empty()) found_ = JsonLocation{pos_, pos_};
      }
      if (!Value(depth + 1, rest)) return false;
      SkipSpace();
      if (pos_ < text_.size() && text_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < text_.size() && text_[pos_] == ']') {
        ++pos_;
        return true;
      }
      return Fail("expected ',' or ']' after the array element");
    }
  }

  // A string token; `out` (when given) receives its text with the simple
  // escapes decoded (\u escapes are kept as written: keys are field names).
  bool String(std::string* out) {
    ++pos_;  // '"'
    while (pos_ < text_.size()) {
      const unsigned char c = static_cast<unsigned char>(text_[pos_]);
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (c < 0x20) return Fail("control character in a string (escape it, e.g. \\n)");
      if (c == '\\') {
        if (pos_ + 1 >= text_.size()) break;
        const char e = text_[pos_ + 1];
        if (e == 'u') {
          for (int k = 2; k < 6; ++k) {
            if (pos_ + k >= text_.size() ||
                !absl::ascii_isxdigit(static_cast<unsigned char>(text_[pos_ + k]))) {
              pos_ += 1;
              return Fail("\\u must be followed by 4 hex digits");
            }
          }
          if (out) out->append(text_.data() + pos_, 6);
          pos_ += 6;
          continue;
        }
        if (absl::string_view("\"\\/bfnrt").find(e) == absl::string_view::npos) {
          ++pos_;
          return Fail("invalid escape in a string");
        }
        if (out) out->push_back(e);
        pos_ += 2;
        continue;
      }
      if (out) out->push_back(static_cast<char>(c));
      ++pos_;
    }
    return Fail("unterminated string (missing closing quote)");
  }

  bool Number() {
    auto digits = [this] {
      const size_t start = pos_;
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
      return pos_ > start;
    };
    if (text_[pos_] == '-') ++pos_;
    if (pos_ < text_.size() && text_[pos_] == '0') {
      ++pos_;
      if (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
        return Fail("a number must not start with 0 (leading zeros are not JSON)");
      }
    } else if (!digits()) {
      return Fail("expected digits in the number");
    }
    if (pos_ < text_.size() && text_[pos_] == '.') {
      ++pos_;
      if (!digits()) return Fail("expected digits after the decimal point");
    }
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
      if (!digits()) return Fail("expected digits in the exponent");
    }
    return true;
  }

  absl::string_view text_;
  size_t pos_ = 0;
  JsonSyntaxError error_;
  std::optional<JsonLocation> found_;
};

}  // namespace

TextPosition PositionAt(absl::string_view text, size_t offset) {
  TextPosition p;
  const size_t end = offset < text.size() ? offset : text.size();
  for (size_t i = 0; i < end; ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '\n') {
      ++p.line;
      p.column = 1;
    } else if ((c & 0xC0) != 0x80) {  // not a UTF-8 continuation byte
      ++p.column;
    }
  }
  return p;
}

std::string FormatPosition(TextPosition position) {
  return absl::StrCat("line ", position.line, ", column ", position.column);
}

std::optional<JsonSyntaxError> FindJsonSyntaxError(absl::string_view text) {
  Scanner scanner(text);
  if (scanner.Document({})) return std::nullopt;
  return scanner.error();
}

std::optional<JsonLocation> FindJsonPath(absl::string_view text, absl::string_view path) {
  std::optional<std::vector<Segment>> segments = ParsePath(path);
  if (!segments) return std::nullopt;
  Scanner scanner(text);
  // A syntax error after the path was found does not move what was found.
  scanner.Document(*segments);
  return scanner.found();
}

}  // namespace trainyard
