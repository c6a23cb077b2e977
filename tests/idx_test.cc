// IDX (MNIST format) and gzip loading: in-memory files, raw and compressed,
// every broken-file case as INVALID_ARGUMENT naming the file; and the real
// Fashion-MNIST test set when Debian's dataset-fashion-mnist is installed.
#include <zlib.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <limits>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "core/data/file_util.h"
#include "core/data/gzip.h"
#include "core/dataset.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace trainyard {
namespace {

using ::testing::HasSubstr;

void PutBigEndian32(std::string& s, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) s.push_back(static_cast<char>(v >> shift));
}

std::string IdxHeader(uint8_t type, const std::vector<uint32_t>& dims) {
  std::string s = {0, 0, static_cast<char>(type), static_cast<char>(dims.size())};
  for (uint32_t d : dims) PutBigEndian32(s, d);
  return s;
}

// Three 2x2 images with pixel values 10*i + k, labels 0, 2, 1.
std::string Images() {
  std::string s = IdxHeader(0x08, {3, 2, 2});
  for (int i = 0; i < 3; ++i) {
    for (int k = 0; k < 4; ++k) s.push_back(static_cast<char>(10 * i + k + 200 * (k == 3)));
  }
  return s;
}
std::string Labels(int n = 3) {
  std::string s = IdxHeader(0x08, {static_cast<uint32_t>(n)});
  const char values[] = {0, 2, 1};
  for (int i = 0; i < n; ++i) s.push_back(values[i % 3]);
  return s;
}

std::string Gzip(const std::string& data) {
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8,
                         Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&z, data.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

void ExpectIdxError(const std::string& images, const std::string& labels,
                    std::vector<std::string> fragments, const DataLimits& limits = {}) {
  auto ds = LoadIdx(images, labels, v1::PREPROCESSING_NONE, limits);
  ASSERT_FALSE(ds.ok());
  EXPECT_EQ(ds.status().code(), absl::StatusCode::kInvalidArgument) << ds.status();
  for (const auto& f : fragments) {
    EXPECT_THAT(std::string(ds.status().message()), HasSubstr(f));
  }
}

void ExpectThreeImages(const Dataset& ds) {
  EXPECT_EQ(ds.num_samples(), 3);
  EXPECT_EQ(ds.num_features(), 4);
  EXPECT_TRUE(ds.integer_labels());
  EXPECT_EQ(ds.num_classes(), 3);
  EXPECT_EQ(ds.features()(0, 0), 0);
  EXPECT_EQ(ds.features()(1, 2), 21);   // image 2, pixel 1
  EXPECT_EQ(ds.features()(3, 1), 213);  // raw values above 127 stay unsigned
  EXPECT_EQ(ds.targets()(0, 0), 0);
  EXPECT_EQ(ds.targets()(0, 1), 2);
  EXPECT_EQ(ds.targets()(0, 2), 1);
}

TEST(IdxTest, RawRoundTrip) {
  auto ds = LoadIdx(Images(), Labels(), v1::SCALE_01);
  ASSERT_TRUE(ds.ok()) << ds.status();
  ExpectThreeImages(**ds);
  EXPECT_EQ((*ds)->preprocessing(), v1::SCALE_01);
}

TEST(IdxTest, GzipRoundTrip) {
  auto ds = LoadIdx(Gzip(Images()), Gzip(Labels()), v1::PREPROCESSING_NONE);
  ASSERT_TRUE(ds.ok()) << ds.status();
  ExpectThreeImages(**ds);
  // Mixed: only one of the two compressed.
  ds = LoadIdx(Images(), Gzip(Labels()), v1::PREPROCESSING_NONE);
  ASSERT_TRUE(ds.ok()) << ds.status();
  ExpectThreeImages(**ds);
}

TEST(IdxTest, OtherElementTypes) {
  std::string floats = IdxHeader(0x0D, {3, 1, 2});
  const float values[] = {0.5f, -1.25f, 3, 4, 5, 6e3f};
  for (float v : values) PutBigEndian32(floats, std::bit_cast<uint32_t>(v));
  auto ds = LoadIdx(floats, Labels(), v1::PREPROCESSING_NONE);
  ASSERT_TRUE(ds.ok()) << ds.status();
  EXPECT_EQ((*ds)->num_features(), 2);
  EXPECT_EQ((*ds)->features()(1, 0), -1.25f);
  EXPECT_EQ((*ds)->features()(1, 2), 6e3f);

  std::string shorts = IdxHeader(0x0B, {3, 1});
  for (int v : {-2, 300, 7}) {
    shorts.push_back(static_cast<char>((v >> 8) & 0xff));
    shorts.push_back(static_cast<char>(v & 0xff));
  }
  ds = LoadIdx(shorts, Labels(), v1::PREPROCESSING_NONE);
  ASSERT_TRUE(ds.ok()) << ds.status();
  EXPECT_EQ((*ds)->features()(0, 0), -2);
  EXPECT_EQ((*ds)->features()(0, 1), 300);

  std::string nan_floats = IdxHeader(0x0D, {3, 1});
  for (float v : {1.0f, std::numeric_limits<float>::quiet_NaN(), 2.0f}) {
    PutBigEndian32(nan_floats, std::bit_cast<uint32_t>(v));
  }
  ExpectIdxError(nan_floats, Labels(), {"images file", "image 1", "NaN"});
}

TEST(IdxTest, TruncatedAndOversizedFiles) {
  std::string images = Images();
  ExpectIdxError(images.substr(0, images.size() - 1), Labels(),
                 {"images file: expected 28 bytes of data", "got 27"});
  ExpectIdxError(images, Labels().substr(0, 10), {"labels file: expected 11 bytes", "got 10"});
  ExpectIdxError(images.substr(0, 10), Labels(), {"images file", "too short"});
  ExpectIdxError(images.substr(0, 2), Labels(), {"images file", "too short"});
  ExpectIdxError(images + "xy", Labels(), {"images file", "2 unexpected bytes"});
}

TEST(IdxTest, EmptyFiles) {
  ExpectIdxError("", Labels(), {"images file is empty"});
  ExpectIdxError(Images(), "", {"labels file is empty"});
}

TEST(IdxTest, BadMagic) {
  std::string images = Images();
  images[2] = 0x01;
  ExpectIdxError(images, Labels(), {"images file: bad IDX magic 0x00000103", "0x00000803"});
  images = Images();
  images[0] = 0x12;
  ExpectIdxError(images, Labels(), {"images file: bad IDX magic 0x12000803"});
  ExpectIdxError(Images(), Images(), {"labels file: bad IDX magic 0x00000803", "images file"});
  ExpectIdxError(Labels(), Labels(), {"images file: bad IDX magic 0x00000801", "labels file"});
}

TEST(IdxTest, CountMismatch) {
  ExpectIdxError(Images(), Labels(2), {"images file has 3 images but labels file has 2 labels"});
}

TEST(IdxTest, AbsurdDimensionsAreAnErrorNotACrash) {
  const std::string huge = IdxHeader(0x08, {0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu});
  ExpectIdxError(huge, Labels(), {"images file", "exceed the limit"});
  const std::string wide = IdxHeader(0x08, {2, 0x10000, 0x10000});
  ExpectIdxError(wide, Labels(), {"images file", "exceed the limit"});
  ExpectIdxError(IdxHeader(0x08, {0, 2, 2}), Labels(), {"images file", "no images"});
  ExpectIdxError(IdxHeader(0x08, {3, 0, 2}), Labels(), {"images file", "no values"});
}

TEST(IdxTest, CorruptGzip) {
  std::string images = Gzip(Images() + std::string(2000, '\x11'));
  for (size_t i = images.size() / 2 - 4; i < images.size() / 2 + 4; ++i) images[i] ^= 0x5a;
  ExpectIdxError(images, Labels(), {"images file: gzip: "});

  std::string labels = Gzip(Labels());
  ExpectIdxError(Images(), labels.substr(0, labels.size() - 6), {"labels file: gzip: ", "truncated"});
}

// A passed decompression limit is RESOURCE_EXHAUSTED (issue 9, class 7:
// it was INVALID_ARGUMENT), naming the part and the limit.
TEST(IdxTest, DecompressedSizeLimit) {
  DataLimits limits;
  limits.max_decompressed_bytes = 20;
  limits.decompressed_limit_name = "max_dataset_bytes";
  auto ds = LoadIdx(Gzip(Images()), Labels(), v1::PREPROCESSING_NONE, limits);
  ASSERT_FALSE(ds.ok());
  EXPECT_EQ(ds.status().code(), absl::StatusCode::kResourceExhausted) << ds.status();
  EXPECT_THAT(std::string(ds.status().message()),
              HasSubstr("images file: gzip: decompressed data exceeds the limit of 20 bytes "
                        "(max_dataset_bytes)"));
  ds = LoadIdx(Images(), Gzip(Labels() + std::string(100, '\0')), v1::PREPROCESSING_NONE,
               limits);
  ASSERT_FALSE(ds.ok());
  EXPECT_EQ(ds.status().code(), absl::StatusCode::kResourceExhausted) << ds.status();
  EXPECT_THAT(std::string(ds.status().message()), HasSubstr("labels file: gzip: "));
}

// `bytes` zeros, deflated in 1 MiB steps (never all in memory).
std::string GzipZeros(int64_t bytes) {
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
  const std::string zeros(1 << 20, '\0');
  std::string out;
  char buf[1 << 16];
  for (int64_t left = bytes; left >= 0;) {
    const int64_t n = std::min<int64_t>(left, zeros.size());
    left -= n;
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(zeros.data()));
    z.avail_in = static_cast<uInt>(n);
    const int flush = left == 0 ? Z_FINISH : Z_NO_FLUSH;
    int rc;
    do {
      z.next_out = reinterpret_cast<Bytef*>(buf);
      z.avail_out = sizeof(buf);
      rc = deflate(&z, flush);
      out.append(buf, sizeof(buf) - z.avail_out);
    } while (z.avail_out == 0 || (flush == Z_FINISH && rc != Z_STREAM_END));
    if (flush == Z_FINISH) break;
  }
  deflateEnd(&z);
  return out;
}

// Issue 9, class 7: a few hundred KB that inflate to 256 MiB. Inflating stops
// just past the limit, and the inflater's own counters show the buffer never
// grew beyond it.
TEST(GzipTest, BombStopsAtTheLimit) {
  const std::string bomb = GzipZeros(int64_t{256} << 20);
  ASSERT_LT(bomb.size(), 400u << 10);
  GunzipLimits limits;
  limits.max_output_bytes = 3 << 20;
  limits.limit_name = "max_dataset_bytes";
  int64_t reserved = 0;
  limits.reserve = [&](int64_t n) {
    reserved += n;
    return absl::OkStatus();
  };
  GunzipStats stats;
  auto out = Gunzip(bomb, limits, &stats);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(out.status().message()),
              HasSubstr("limit of 3145728 bytes (max_dataset_bytes)"));
  EXPECT_EQ(stats.produced_bytes, limits.max_output_bytes + 1);
  // buffer_bytes is the string's capacity: the limit + 1, give or take a
  // standard library's rounding; every byte asked for was charged first.
  EXPECT_LE(stats.buffer_bytes, limits.max_output_bytes + 64);
  EXPECT_LE(reserved, stats.buffer_bytes);
  EXPECT_GE(reserved, limits.max_output_bytes + 1);

  // A refused reservation ends the inflate with its status.
  limits.reserve = [](int64_t) { return absl::ResourceExhaustedError("budget spent"); };
  out = Gunzip(bomb, limits, &stats);
  EXPECT_EQ(out.status().message(), "budget spent");
  EXPECT_EQ(stats.buffer_bytes, 0);
}

// Within the limit the output is exact, however many times the buffer grew.
TEST(GzipTest, OutputJustUnderTheLimit) {
  const std::string gz = GzipZeros(5 << 20);
  GunzipLimits limits;
  limits.max_output_bytes = 5 << 20;
  GunzipStats stats;
  auto out = Gunzip(gz, limits, &stats);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->size(), size_t{5} << 20);
  EXPECT_EQ(out->find_first_not_of('\0'), std::string::npos);
  EXPECT_LE(stats.buffer_bytes, (5 << 20) + 64);
  limits.max_output_bytes = (5 << 20) - 1;
  EXPECT_EQ(Gunzip(gz, limits).status().code(), absl::StatusCode::kResourceExhausted);
}

TEST(GzipTest, ConcatenatedMembersAndPadding) {
  EXPECT_TRUE(IsGzip(Gzip("x")));
  EXPECT_FALSE(IsGzip("\x1f"));
  auto out = Gunzip(Gzip("hello ") + Gzip("world") + std::string(8, '\0'), 1 << 20);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "hello world");
  const std::string big(3 << 20, 'a');  // several output buffers
  out = Gunzip(Gzip(big), 1 << 30);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, big);
}

TEST(GzipTest, Errors) {
  auto out = Gunzip(Gzip("hello") + "junk", 1 << 20);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(out.status().message()), HasSubstr("gzip: 4 bytes of trailing garbage"));
  std::string bad_crc = Gzip("hello world");
  bad_crc[bad_crc.size() - 6] ^= 1;  // inside the CRC-32 of the trailer
  out = Gunzip(bad_crc, 1 << 20);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(out.status().message()), HasSubstr("gzip: "));
  out = Gunzip("plain", 1 << 20);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(FileUtilTest, ReadFileAndMissingFile) {
  auto missing = ReadFile("/nonexistent/trainyard/file");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("/nonexistent/trainyard/file"));

  const std::string path = ::testing::TempDir() + "/h4_file_util_test.bin";
  const std::string data = Images() + std::string(100000, '\x7f');
  FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  std::fwrite(data.data(), 1, data.size(), f);
  std::fclose(f);
  auto read = ReadFile(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, data);
  std::filesystem::remove(path);
}

TEST(FashionMnistTest, LoadsTheRealTestSet) {
  const std::string dir = "/usr/share/datasets/fashion-mnist/";
  const std::string images_path = dir + "t10k-images-idx3-ubyte.gz";
  const std::string labels_path = dir + "t10k-labels-idx1-ubyte.gz";
  if (!std::filesystem::exists(images_path) || !std::filesystem::exists(labels_path)) {
    GTEST_SKIP() << "Fashion-MNIST not installed (Debian package dataset-fashion-mnist)";
  }
  auto images = ReadFile(images_path);
  auto labels = ReadFile(labels_path);
  ASSERT_TRUE(images.ok()) << images.status();
  ASSERT_TRUE(labels.ok()) << labels.status();
  auto ds = LoadIdx(*images, *labels, v1::SCALE_01);
  ASSERT_TRUE(ds.ok()) << ds.status();
  const Dataset& d = **ds;
  EXPECT_EQ(d.num_samples(), 10000);
  EXPECT_EQ(d.num_features(), 784);
  EXPECT_EQ(d.num_classes(), 10);
  // std:: rather than maxCoeff(): GCC 12 warns falsely in Eigen's AVX-512 path.
  const Scalar* px = d.features().data();
  EXPECT_EQ(*std::max_element(px, px + d.features().size()), 255);
  EXPECT_EQ(*std::min_element(px, px + d.features().size()), 0);
  // Fashion-MNIST's test set is balanced: 1000 images per class.
  std::vector<int> per_class(10, 0);
  for (int64_t i = 0; i < d.num_samples(); ++i) ++per_class[static_cast<int>(d.targets()(0, i))];
  for (int c = 0; c < 10; ++c) EXPECT_EQ(per_class[c], 1000) << "class " << c;
}

}  // namespace
}  // namespace trainyard
