#include "core/sha256.h"

#include <algorithm>
#include <string>
#include <utility>

#include "gtest/gtest.h"

namespace trainyard {
namespace {

// FIPS 180-4 / NIST CAVS example vectors.
constexpr char kEmptyHex[] =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
constexpr char kAbcHex[] =
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
constexpr char k448Bit[] =
    "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
constexpr char k448BitHex[] =
    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1";
constexpr char kMillionAHex[] =
    "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";

TEST(Sha256Test, FipsVectors) {
  EXPECT_EQ(Sha256Hex(""), kEmptyHex);
  EXPECT_EQ(Sha256Hex("abc"), kAbcHex);
  EXPECT_EQ(Sha256Hex(k448Bit), k448BitHex);
  EXPECT_EQ(Sha256Hex(std::string(1000000, 'a')), kMillionAHex);
}

TEST(Sha256Test, BinaryDigestMatchesHex) {
  Sha256Digest d = Sha256("abc");
  EXPECT_EQ(d[0], 0xba);
  EXPECT_EQ(d[31], 0xad);
  EXPECT_EQ(DigestToHex(d), kAbcHex);
}

TEST(Sha256Test, EmbeddedNulBytesAreHashed) {
  std::string with_nul("a\0b", 3);
  EXPECT_NE(Sha256Hex(with_nul), Sha256Hex("ab"));
  EXPECT_NE(Sha256Hex(with_nul), Sha256Hex("a"));
}

TEST(Sha256Test, IncrementalEqualsOneShotForEverySplit) {
  const std::string text = k448Bit;
  for (size_t a = 0; a <= text.size(); ++a) {
    for (size_t b = a; b <= text.size(); b += 7) {
      Sha256Hasher h;
      h.Update(std::string_view(text).substr(0, a));
      h.Update(std::string_view(text).substr(a, b - a));
      h.Update(std::string_view(text).substr(b));
      ASSERT_EQ(h.FinishHex(), k448BitHex) << "split at " << a << ", " << b;
    }
  }
}

TEST(Sha256Test, IncrementalMillionAInUnevenChunks) {
  Sha256Hasher h;
  size_t left = 1000000, chunk = 1;
  while (left > 0) {
    size_t n = std::min(left, chunk);
    h.Update(std::string(n, 'a'));
    left -= n;
    chunk = chunk * 3 + 1;  // 1, 4, 13, ... crosses the 64-byte block edges
  }
  EXPECT_EQ(h.bytes_hashed(), 1000000u);
  EXPECT_EQ(h.FinishHex(), kMillionAHex);
}

TEST(Sha256Test, FinishResetsForReuse) {
  Sha256Hasher h;
  h.Update("abc");
  EXPECT_EQ(h.FinishHex(), kAbcHex);
  EXPECT_EQ(h.bytes_hashed(), 0u);
  EXPECT_EQ(h.FinishHex(), kEmptyHex);
  h.Update("ab");
  h.Update("c");
  EXPECT_EQ(h.FinishHex(), kAbcHex);
}

TEST(Sha256Test, MovedHasherKeepsItsState) {
  Sha256Hasher a;
  a.Update("ab");
  Sha256Hasher b = std::move(a);
  b.Update("c");
  EXPECT_EQ(b.FinishHex(), kAbcHex);
  Sha256Hasher c;
  c.Update("xyz");
  c = std::move(b);  // discards c's own state
  c.Update("abc");
  EXPECT_EQ(c.FinishHex(), kAbcHex);
}

}  // namespace
}  // namespace trainyard
