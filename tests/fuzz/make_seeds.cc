// Writes the binary seed corpora of the fuzz harnesses into a directory:
//   make_seeds OUT_DIR   ->  OUT_DIR/idx/*, OUT_DIR/checkpoint/*
// Generated from the project's own encoders (and zlib) on every run instead
// of committed as opaque blobs (docs/decisions.md): a format change updates
// the seeds with it, and review sees the code that made them. The layouts
// are the harnesses' (idx_fuzz.cc, checkpoint_fuzz.cc).
#include <zlib.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/checkpoint.h"
#include "core/dataset.h"
#include "core/spec_json.h"
#include "core/trainer.h"

namespace {

namespace fs = std::filesystem;
using trainyard::v1::Checkpoint;

bool Write(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) std::fprintf(stderr, "make_seeds: cannot write %s\n", path.c_str());
  return static_cast<bool>(out);
}

std::string Gzip(const std::string& data) {
  z_stream z{};
  deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, data.size()) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

// ------------------------------------------------------------------- IDX

void PutBigEndian32(std::string& s, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) s.push_back(static_cast<char>(v >> shift));
}

std::string IdxHeader(uint8_t type, std::initializer_list<uint32_t> dims) {
  std::string s = {0, 0, static_cast<char>(type), static_cast<char>(dims.size())};
  for (uint32_t d : dims) PutBigEndian32(s, d);
  return s;
}

// Element sizes of the IDX types LoadIdx reads (core/dataset.h).
int ElementSize(uint8_t type) {
  switch (type) {
    case 0x0B: return 2;
    case 0x0C: case 0x0D: return 4;
    case 0x0E: return 8;
    default: return 1;
  }
}

// An images file of `n` samples of type `type` and the given per-sample dims,
// with small element values (valid for every type: 0x0D/0x0E get the bytes of
// small floats).
std::string Images(uint8_t type, uint32_t n, std::initializer_list<uint32_t> sample_dims) {
  std::string s = {0, 0, static_cast<char>(type), static_cast<char>(1 + sample_dims.size())};
  PutBigEndian32(s, n);
  uint64_t per_sample = 1;
  for (uint32_t d : sample_dims) {
    PutBigEndian32(s, d);
    per_sample *= d;
  }
  for (uint64_t i = 0; i < n * per_sample; ++i) {
    if (type == 0x0D) {
      const float f = static_cast<float>(i % 5) * 0.5f;
      uint32_t bits;
      std::memcpy(&bits, &f, 4);
      PutBigEndian32(s, bits);
    } else if (type == 0x0E) {
      const double d = static_cast<double>(i % 5) * 0.25;
      uint64_t bits;
      std::memcpy(&bits, &d, 8);
      PutBigEndian32(s, static_cast<uint32_t>(bits >> 32));
      PutBigEndian32(s, static_cast<uint32_t>(bits));
    } else {
      const int size = ElementSize(type);
      for (int b = 0; b < size; ++b) {
        s.push_back(static_cast<char>(b == size - 1 ? (i * 37) % 251 : 0));
      }
    }
  }
  return s;
}

std::string Labels(uint32_t n) {
  std::string s = IdxHeader(0x08, {n});
  for (uint32_t i = 0; i < n; ++i) s.push_back(static_cast<char>(i % 3));
  return s;
}

// idx_fuzz.cc's layout: mode byte, images length (u16 LE), images, labels.
std::string IdxInput(uint8_t mode, const std::string& images, const std::string& labels) {
  std::string s;
  s.push_back(static_cast<char>(mode));
  s.push_back(static_cast<char>(images.size() & 0xFF));
  s.push_back(static_cast<char>((images.size() >> 8) & 0xFF));
  return s + images + labels;
}

bool WriteIdxSeeds(const fs::path& dir) {
  struct Case {
    const char* name;
    uint8_t type;
    uint32_t n;
    std::initializer_list<uint32_t> dims;
  };
  const Case cases[] = {
      {"u8_3x2x2", 0x08, 3, {2, 2}},      {"i8_4x3", 0x09, 4, {3}},
      {"i16_2x2x2x2", 0x0B, 2, {2, 2, 2}}, {"i32_3x2", 0x0C, 3, {2}},
      {"f32_3x2x2", 0x0D, 3, {2, 2}},     {"f64_2x3", 0x0E, 2, {3}},
  };
  bool ok = true;
  for (const Case& c : cases) {
    const std::string images = Images(c.type, c.n, c.dims);
    const std::string labels = Labels(c.n);
    const std::string name = c.name;
    // A seed the loader refuses would start the fuzzer at the first check.
    if (absl::Status s = trainyard::LoadIdx(images, labels, trainyard::v1::PREPROCESSING_NONE)
                             .status();
        !s.ok()) {
      std::fprintf(stderr, "make_seeds: idx %s does not load: %s\n", c.name,
                   std::string(s.message()).c_str());
      ok = false;
    }
    ok &= Write(dir / (name + "_raw"), IdxInput(0, images, labels));
    // The harness compresses both parts (IDX header mutations inside gzip).
    ok &= Write(dir / (name + "_gzip_by_harness"), IdxInput(3 | (1 << 2), images, labels));
    // Ready-made gzip parts, passed through as they are (inflater fuzzing).
    ok &= Write(dir / (name + "_gzip_parts"), IdxInput(2 << 2, Gzip(images), Gzip(labels)));
  }
  // Two gzip members in one part, which gzip(1) and Gunzip join.
  const std::string images = Images(0x08, 3, {2, 2});
  ok &= Write(dir / "u8_gzip_two_members",
              IdxInput(0, Gzip(images.substr(0, 9)) + Gzip(images.substr(9)), Labels(3)));
  return ok;
}

// ------------------------------------------------------------ checkpoint

struct TrainedCase {
  const char* name;
  const char* model;
  const char* training;
  bool regression;  // targets are the last two columns, else a class label
};

// A small trained model's checkpoint: real buffers (optimiser moments, layer
// state, history, RNG, preprocessing) for the fuzzer to start from.
absl::StatusOr<Checkpoint> Train(const TrainedCase& c) {
  trainyard::v1::CsvOptions csv;
  csv.set_preprocessing(trainyard::v1::STANDARDIZE);
  if (c.regression) {
    csv.set_label_kind(trainyard::v1::REGRESSION_TARGETS);
    csv.add_label_columns("2");
    csv.add_label_columns("3");
  }
  std::string text;
  for (int i = 0; i < 24; ++i) {
    const int a = i % 2, b = (i / 2) % 2;
    text += c.regression ? absl::StrCat(a, ",", b, ",", a + b, ",", a - b, "\n")
                         : absl::StrCat(a, ",", b, ",", a ^ b, "\n");
  }
  auto data = trainyard::LoadCsv(text, csv);
  if (!data.ok()) return data.status();
  auto model = trainyard::ParseModelSpecJson(c.model);
  if (!model.ok()) return model.status();
  auto training = trainyard::ParseTrainingConfigJson(c.training);
  if (!training.ok()) return training.status();
  auto trainer = trainyard::Trainer::Create(*model, *training, *data, nullptr, {});
  if (!trainer.ok()) return trainer.status();
  auto outcome = (*trainer)->Run(nullptr, nullptr);
  if (!outcome.ok()) return outcome.status();
  return (*trainer)->MakeCheckpoint();
}

bool WriteCheckpointSeeds(const fs::path& dir) {
  const TrainedCase cases[] = {
      {"mlp_adam", R"({"input_dim": 2, "layers": [{"dense": {"units": 4}},
          {"activation": {"kind": "TANH"}}, {"dense": {"units": 2}}]})",
       R"({"loss": {"kind": "SOFTMAX_CROSS_ENTROPY"}, "optimizer": {"adam": {}},
          "batch_size": 8, "epochs": 2, "seed": 3})",
       false},
      {"bn_dropout_sgd", R"({"input_dim": 2, "layers": [{"dense": {"units": 3}},
          {"batch_norm": {}}, {"activation": {"kind": "RELU"}}, {"dropout": {"rate": 0.2}},
          {"dense": {"units": 2}}]})",
       R"({"loss": {"kind": "SOFTMAX_CROSS_ENTROPY"},
          "optimizer": {"sgd": {"momentum": 0.9, "nesterov": true}, "learning_rate": 0.1},
          "schedule": {"step_decay": {"step_size": 2, "gamma": 0.5}, "warmup": {"steps": 1}},
          "batch_size": 5, "epochs": 3, "validation_fraction": 0.25,
          "early_stopping": {"patience": 2, "restore_best": true}})",
       false},
      {"residual_rmsprop", R"({"input_dim": 2, "layers": [{"dense": {"units": 3}},
          {"residual": {"layers": [{"layer_norm": {}}, {"dense": {"units": 3}},
          {"activation": {"kind": "LEAKY_RELU", "alpha": 0.1}}], "scale": 0.5}},
          {"dense": {"units": 2}}]})",
       R"({"loss": {"kind": "MSE"}, "optimizer": {"rmsprop": {"centered": true,
          "momentum": 0.5}}, "schedule": {"unit": "EPOCHS", "cosine": {"t_max": 2}},
          "batch_size": 6, "epochs": 2, "clip_grad_norm": 1.0})",
       true},
  };
  bool ok = true;
  for (const TrainedCase& c : cases) {
    absl::StatusOr<Checkpoint> checkpoint = Train(c);
    if (!checkpoint.ok()) {
      std::fprintf(stderr, "make_seeds: %s: %s\n", c.name,
                   std::string(checkpoint.status().message()).c_str());
      ok = false;
      continue;
    }
    absl::StatusOr<std::string> file = trainyard::EncodeCheckpoint(*checkpoint);
    if (!file.ok()) return false;
    if (absl::Status s = trainyard::DecodeCheckpoint(*file).status(); !s.ok()) {
      std::fprintf(stderr, "make_seeds: checkpoint %s does not decode: %s\n", c.name,
                   std::string(s.message()).c_str());
      ok = false;
    }
    // checkpoint_fuzz.cc's layout: even first byte + a whole file; odd first
    // byte + the payload alone.
    ok &= Write(dir / (std::string(c.name) + "_file"), std::string(1, '\0') + *file);
    ok &= Write(dir / (std::string(c.name) + "_payload"),
                std::string(1, '\1') + file->substr(trainyard::kCheckpointHeaderSize));
  }
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_seeds OUT_DIR\n");
    return 2;
  }
  const fs::path out = argv[1];
  std::error_code ec;
  for (const char* sub : {"idx", "checkpoint"}) {
    fs::create_directories(out / sub, ec);
    if (ec) {
      std::fprintf(stderr, "make_seeds: cannot create %s: %s\n", (out / sub).c_str(),
                   ec.message().c_str());
      return 1;
    }
  }
  const bool idx_ok = WriteIdxSeeds(out / "idx");
  const bool checkpoint_ok = WriteCheckpointSeeds(out / "checkpoint");
  return idx_ok && checkpoint_ok ? 0 : 1;
}
