#include "core/checkpoint.h"

#include <dirent.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <fstream>
#include <functional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/atomic_file.h"
#include "core/sha256.h"
#include "core/validate.h"
#include "gmock/gmock.h"
#include "google/protobuf/stubs/logging.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"

namespace trainyard {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// A small model that uses every layer kind, with batch norm both at the top
// level and inside the residual block (each keeps mean and variance:
// 2 x 4 state values).
constexpr char kModel[] = R"pb(
  input_dim: 3
  layers { dense { units: 4 } }
  layers { batch_norm {} }
  layers { activation { kind: RELU } }
  layers { dropout { rate: 0.25 } }
  layers {
    residual {
      layers { dense { units: 4 } }
      layers { batch_norm {} }
      layers { layer_norm {} }
      layers { activation { kind: TANH } }
      scale: 0.5
    }
  }
  layers { dense { units: 2 } }
)pb";
constexpr int kLayerState = 16;

constexpr char kTraining[] = R"pb(
  loss { kind: SOFTMAX_CROSS_ENTROPY }
  optimizer { learning_rate: 0.01 adam { beta1: 0.9 } }
  schedule { cosine { t_max: 10 } warmup { steps: 5 } }
  batch_size: 8
  epochs: 10
  seed: 42
  clip_grad_norm: 1.0
  validation_fraction: 0.2
  early_stopping { patience: 3 restore_best: true }
  checkpoint_every_epochs: 1
)pb";

// A consistent checkpoint with every field set, as the trainer would write
// after 2 epochs and 3 batches of the third.
v1::Checkpoint MakeCheckpoint() {
  v1::Checkpoint c;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(kModel, c.mutable_model()));
  EXPECT_TRUE(
      google::protobuf::TextFormat::ParseFromString(kTraining, c.mutable_training()));
  const int64_t n = CountParams(c.model());
  for (int64_t i = 0; i < n; ++i) c.add_params(0.01f * static_cast<float>(i) - 0.3f);
  for (int i = 0; i < kLayerState; ++i) c.add_layer_state(i % 2 ? 1.0f : 0.1f * i);
  for (const char* name : {"exp_avg", "exp_avg_sq"}) {
    v1::OptimizerBuffer* b = c.add_optimizer_state();
    b->set_name(name);
    for (int64_t i = 0; i < n; ++i) b->add_values(1e-3f * static_cast<float>(i));
  }
  c.set_optimizer_steps(23);
  c.set_step(23);
  c.set_completed_epochs(2);
  c.set_batches_in_epoch(3);
  c.set_epoch_loss_sum(1.75);
  c.set_epoch_correct(17);
  c.set_epoch_samples(24);
  for (uint64_t w : {0x0123456789abcdefull, 2ull, 3ull, ~0ull}) c.add_rng_state(w);
  v1::PreprocessorState* p = c.mutable_preprocessor();
  p->set_kind(v1::STANDARDIZE);
  for (float v : {0.5f, -1.0f, 2.0f}) p->add_offset(v);
  for (float v : {2.0f, 1.0f, 0.25f}) p->add_scale(v);
  v1::EarlyStoppingState* e = c.mutable_early_stopping();
  e->set_best_val_loss(0.61);
  e->set_best_epoch(2);
  e->set_epochs_without_improvement(0);
  *e->mutable_best_params() = c.params();
  *e->mutable_best_state() = c.layer_state();
  for (int epoch = 1; epoch <= 2; ++epoch) {
    v1::EpochSummary* h = c.add_history();
    h->set_epoch(epoch);
    h->set_step(10 * epoch);
    h->set_train_loss(1.0 / epoch);
    h->set_train_accuracy(0.5 + 0.1 * epoch);
    h->set_val_loss(0.7 / epoch);
    h->set_val_accuracy(0.6);
    h->set_samples_per_second(12345.5);
    h->set_epoch_seconds(0.25);
  }
  c.set_num_features(3);
  c.set_target_dim(1);
  c.set_dataset_sha256(Sha256Hex("the dataset"));
  return c;
}

bool Equal(const v1::Checkpoint& a, const v1::Checkpoint& b) {
  return google::protobuf::util::MessageDifferencer::Equals(a, b);
}

void PutU32(std::string& bytes, size_t offset, uint32_t v) {
  for (int i = 0; i < 4; ++i) bytes[offset + i] = static_cast<char>(v >> (8 * i));
}

// A file whose header is correct for `payload`, whatever the payload holds.
std::string WithHeader(const std::string& payload) {
  std::string file = EncodeCheckpoint(v1::Checkpoint()).value();
  file.resize(kCheckpointHeaderSize);
  for (int i = 0; i < 8; ++i) {
    file[16 + i] = static_cast<char>(static_cast<uint64_t>(payload.size()) >> (8 * i));
  }
  Sha256Digest d = Sha256(payload);
  file.replace(24, 32, reinterpret_cast<const char*>(d.data()), 32);
  return file + payload;
}

// A fresh empty directory for file tests, removed with its files at the end.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = ::testing::TempDir() + "/ckpt_test_XXXXXX";
    path_ = mkdtemp(tmpl.data()) ? tmpl : "";
    EXPECT_FALSE(path_.empty());
  }
  ~TempDir() {
    for (const std::string& name : Entries()) unlink((path_ + "/" + name).c_str());
    rmdir(path_.c_str());
  }
  const std::string& path() const { return path_; }
  std::set<std::string> Entries() const {
    std::set<std::string> names;
    if (DIR* d = opendir(path_.c_str())) {
      while (dirent* e = readdir(d)) {
        std::string name = e->d_name;
        if (name != "." && name != "..") names.insert(name);
      }
      closedir(d);
    }
    return names;
  }

 private:
  std::string path_;
};

TEST(CheckpointTest, FullCheckpointIsValid) {
  EXPECT_EQ(ValidateCheckpoint(MakeCheckpoint()), absl::OkStatus());
}

TEST(CheckpointTest, EncodeDecodeRoundTripKeepsEveryField) {
  const v1::Checkpoint c = MakeCheckpoint();
  absl::StatusOr<v1::Checkpoint> back = DecodeCheckpoint(EncodeCheckpoint(c).value());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(Equal(c, *back));
  EXPECT_EQ(back->rng_state(3), ~0ull);
  EXPECT_EQ(back->history(1).samples_per_second(), 12345.5);
}

TEST(CheckpointTest, HeaderHasDocumentedLayout) {
  const v1::Checkpoint c = MakeCheckpoint();
  const std::string file = EncodeCheckpoint(c).value();
  ASSERT_GT(file.size(), kCheckpointHeaderSize);
  const std::string payload = file.substr(kCheckpointHeaderSize);
  EXPECT_EQ(file.substr(0, 8), std::string("TYCHKPT\n"));
  EXPECT_EQ(file.substr(8, 4), std::string("\x01\x00\x00\x00", 4));  // version 1
  EXPECT_EQ(file.substr(12, 4), std::string(4, '\0'));               // flags
  uint64_t length = 0;
  for (int i = 0; i < 8; ++i) {
    length |= static_cast<uint64_t>(static_cast<uint8_t>(file[16 + i])) << (8 * i);
  }
  EXPECT_EQ(length, payload.size());
  Sha256Digest d = Sha256(payload);
  EXPECT_EQ(file.substr(24, 32), std::string(reinterpret_cast<const char*>(d.data()), 32));
  v1::Checkpoint parsed;
  ASSERT_TRUE(parsed.ParseFromString(payload));
  EXPECT_TRUE(Equal(c, parsed));
}

TEST(CheckpointTest, EncodingIsDeterministic) {
  EXPECT_EQ(EncodeCheckpoint(MakeCheckpoint()).value(),
            EncodeCheckpoint(MakeCheckpoint()).value());
}

TEST(CheckpointTest, BadMagic) {
  const std::string good = EncodeCheckpoint(MakeCheckpoint()).value();
  std::string wrong = good;
  wrong[0] = 'X';
  for (const std::string& bytes :
       {std::string(), std::string("TYCH"), std::string("hello, world"), wrong,
        std::string(100, '\0')}) {
    absl::StatusOr<v1::Checkpoint> r = DecodeCheckpoint(bytes);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(r.status().message(), "not a trainyard checkpoint (bad magic)");
  }
}

TEST(CheckpointTest, HeaderCutShortIsDataLoss) {
  const std::string good = EncodeCheckpoint(MakeCheckpoint()).value();
  absl::StatusOr<v1::Checkpoint> r = DecodeCheckpoint(good.substr(0, 30));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("truncated"));
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("file has 30"));
}

TEST(CheckpointTest, UnknownVersion) {
  std::string bytes = EncodeCheckpoint(MakeCheckpoint()).value();
  PutU32(bytes, 8, 7);
  absl::StatusOr<v1::Checkpoint> r = DecodeCheckpoint(bytes);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(),
            "checkpoint format version 7 is not supported (this build reads 1)");
}

TEST(CheckpointTest, UnknownFlags) {
  std::string bytes = EncodeCheckpoint(MakeCheckpoint()).value();
  PutU32(bytes, 12, 4);
  absl::StatusOr<v1::Checkpoint> r = DecodeCheckpoint(bytes);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("flags 0x4 are not supported"));
}

TEST(CheckpointTest, TruncatedPayload) {
  const std::string good = EncodeCheckpoint(MakeCheckpoint()).value();
  const size_t n = good.size() - kCheckpointHeaderSize;
  absl::StatusOr<v1::Checkpoint> r = DecodeCheckpoint(good.substr(0, good.size() - 5));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(r.status().message(),
            absl::StrCat("checkpoint is truncated: header says ", n,
                         " payload bytes, file has ", n - 5));
}

TEST(CheckpointTest, TrailingBytes) {
  const std::string good = EncodeCheckpoint(MakeCheckpoint()).value();
  const size_t n = good.size() - kCheckpointHeaderSize;
  absl::StatusOr<v1::Checkpoint> r = DecodeCheckpoint(good + "xy");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(r.status().message()),
              HasSubstr(absl::StrCat("header says ", n, " payload bytes, file has ",
                                     n + 2)));
}

TEST(CheckpointTest, PayloadChangedIsShaMismatch) {
  std::string bytes = EncodeCheckpoint(MakeCheckpoint()).value();
  bytes[bytes.size() / 2] ^= 0x10;
  absl::StatusOr<v1::Checkpoint> r = DecodeCheckpoint(bytes);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(r.status().message(),
            "checkpoint payload sha256 mismatch (file altered or corrupt)");
}

TEST(CheckpointTest, DigestChangedIsShaMismatch) {
  std::string bytes = EncodeCheckpoint(MakeCheckpoint()).value();
  bytes[40] ^= 0x01;
  absl::StatusOr<v1::Checkpoint> r = DecodeCheckpoint(bytes);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("sha256 mismatch"));
}

TEST(CheckpointTest, UnparsablePayloadIsDataLoss) {
  // A field tag with wire type 7 (invalid), then bytes: correctly hashed junk.
  absl::StatusOr<v1::Checkpoint> r = DecodeCheckpoint(WithHeader("\x0f\xff\xff junk"));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("does not parse"));
}

TEST(CheckpointTest, InconsistentPayloadIsInvalidArgument) {
  v1::Checkpoint c = MakeCheckpoint();
  c.mutable_params()->RemoveLast();
  absl::StatusOr<v1::Checkpoint> r = DecodeCheckpoint(EncodeCheckpoint(c).value());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()), StartsWith("checkpoint: params has "));
  // An empty message is a well-formed payload without a model.
  r = DecodeCheckpoint(WithHeader(""));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "checkpoint: model is missing");
}

// Random truncations, byte flips and insertions of a valid file: each must
// be an error (the sha256 covers every payload byte, the header fields are
// each checked), and none may crash.
TEST(CheckpointTest, MutatedFilesAreAllRejected) {
  const std::string good = EncodeCheckpoint(MakeCheckpoint()).value();
  std::mt19937_64 gen(12345);
  auto below = [&](size_t n) { return static_cast<size_t>(gen() % n); };
  std::set<absl::StatusCode> codes;
  for (int trial = 0; trial < 3000; ++trial) {
    std::string bytes = good;
    switch (trial % 3) {
      case 0:
        bytes.resize(below(good.size()));
        break;
      case 1:
        for (size_t flips = 1 + below(4); flips > 0; --flips) {
          bytes[below(bytes.size())] ^= static_cast<char>(1 + below(255));
        }
        break;
      case 2:
        bytes.insert(below(bytes.size() + 1), 1, static_cast<char>(gen()));
        break;
    }
    absl::StatusOr<v1::Checkpoint> r = DecodeCheckpoint(bytes);
    ASSERT_FALSE(r.ok()) << "trial " << trial << " was accepted";
    codes.insert(r.status().code());
  }
  EXPECT_EQ(codes, (std::set<absl::StatusCode>{absl::StatusCode::kInvalidArgument,
                                                absl::StatusCode::kDataLoss}));
}

// Junk that passes the sha256 check (the header is rebuilt for it) exercises
// the protobuf parser and ValidateCheckpoint on arbitrary payloads. A mutation
// may happen to keep the checkpoint valid (e.g. a changed weight); otherwise
// the error must be DATA_LOSS (unparsable) or INVALID_ARGUMENT (inconsistent).
TEST(CheckpointTest, ResignedMutatedPayloadsNeverCrash) {
  const std::string payload =
      EncodeCheckpoint(MakeCheckpoint()).value().substr(kCheckpointHeaderSize);
  // Mutated strings are often invalid UTF-8, which protobuf logs on parse.
  google::protobuf::LogSilencer quiet;
  std::mt19937_64 gen(777);
  auto below = [&](size_t n) { return static_cast<size_t>(gen() % n); };
  int accepted = 0, parse_errors = 0, invalid = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    std::string p = payload;
    if (trial % 2 == 0) {
      p.resize(below(p.size()));
    } else {
      for (size_t flips = 1 + below(3); flips > 0; --flips) {
        p[below(p.size())] ^= static_cast<char>(1 + below(255));
      }
    }
    absl::StatusOr<v1::Checkpoint> r = DecodeCheckpoint(WithHeader(p));
    if (r.ok()) {
      ++accepted;
      EXPECT_EQ(ValidateCheckpoint(*r), absl::OkStatus());
    } else if (r.status().code() == absl::StatusCode::kDataLoss) {
      ++parse_errors;
    } else {
      ASSERT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
      ASSERT_THAT(std::string(r.status().message()), StartsWith("checkpoint: "));
      ++invalid;
    }
  }
  // Both error paths were reached, so the test exercises what it claims.
  EXPECT_GT(parse_errors, 0);
  EXPECT_GT(invalid, 0);
  EXPECT_LT(accepted, 3000);
}

struct BadCase {
  const char* name;
  std::function<void(v1::Checkpoint&)> mutate;
  const char* message;  // expected substring, after "checkpoint: "
};

TEST(CheckpointTest, ValidateNamesTheInconsistentField) {
  const std::vector<BadCase> cases = {
      {"model missing", [](v1::Checkpoint& c) { c.clear_model(); }, "model is missing"},
      {"model invalid",
       [](v1::Checkpoint& c) { c.mutable_model()->mutable_layers(0)->mutable_dense()->set_units(0); },
       "model.layers[0].dense.units"},
      {"training invalid",
       [](v1::Checkpoint& c) { c.mutable_training()->set_batch_size(0); },
       "training.batch_size"},
      {"loss does not fit", [](v1::Checkpoint& c) { c.set_target_dim(2); },
       "training.loss.kind"},
      {"params short", [](v1::Checkpoint& c) { c.mutable_params()->RemoveLast(); },
       "params has "},
      {"params NaN", [](v1::Checkpoint& c) { c.set_params(3, std::nanf("")); },
       "params[3] is nan"},
      {"layer_state short",
       [](v1::Checkpoint& c) { c.mutable_layer_state()->RemoveLast(); },
       "layer_state has 15 values, the model's batch-norm layers need 16"},
      {"optimizer buffer short",
       [](v1::Checkpoint& c) { c.mutable_optimizer_state(1)->mutable_values()->RemoveLast(); },
       "optimizer_state[1] (\"exp_avg_sq\") has "},
      {"optimizer buffer unnamed",
       [](v1::Checkpoint& c) { c.mutable_optimizer_state(0)->clear_name(); },
       "optimizer_state[0].name is empty"},
      {"optimizer buffer twice",
       [](v1::Checkpoint& c) { c.mutable_optimizer_state(1)->set_name("exp_avg"); },
       "optimizer_state[1].name \"exp_avg\" appears twice"},
      {"negative optimizer steps", [](v1::Checkpoint& c) { c.set_optimizer_steps(-1); },
       "optimizer_steps is -1"},
      {"negative step", [](v1::Checkpoint& c) { c.set_step(-5); }, "step is -5"},
      {"negative batches", [](v1::Checkpoint& c) { c.set_batches_in_epoch(-1); },
       "batches_in_epoch is -1"},
      {"more correct than samples", [](v1::Checkpoint& c) { c.set_epoch_correct(25); },
       "epoch_correct is 25"},
      {"loss sum inf", [](v1::Checkpoint& c) { c.set_epoch_loss_sum(INFINITY); },
       "epoch_loss_sum is inf"},
      {"rng 3 words", [](v1::Checkpoint& c) { c.mutable_rng_state()->RemoveLast(); },
       "rng_state has 3 words, xoshiro256** needs 4"},
      {"rng all zero",
       [](v1::Checkpoint& c) { for (int i = 0; i < 4; ++i) c.set_rng_state(i, 0); },
       "rng_state is all zero"},
      {"num_features wrong", [](v1::Checkpoint& c) { c.set_num_features(4); },
       "num_features is 4, the model's input_dim is 3"},
      {"preprocessor offset short",
       [](v1::Checkpoint& c) { c.mutable_preprocessor()->mutable_offset()->RemoveLast(); },
       "preprocessor.offset has 2 values, num_features is 3"},
      {"preprocessor scale NaN",
       [](v1::Checkpoint& c) { c.mutable_preprocessor()->set_scale(1, std::nanf("")); },
       "preprocessor.scale[1] is nan"},
      {"preprocessor none but offsets",
       [](v1::Checkpoint& c) { c.mutable_preprocessor()->set_kind(v1::PREPROCESSING_NONE); },
       "preprocessor.kind is PREPROCESSING_NONE but offset/scale are set"},
      {"preprocessor unknown kind",
       [](v1::Checkpoint& c) { c.mutable_preprocessor()->set_kind(static_cast<v1::Preprocessing>(9)); },
       "preprocessor.kind 9"},
      {"best params short",
       [](v1::Checkpoint& c) { c.mutable_early_stopping()->mutable_best_params()->RemoveLast(); },
       "early_stopping.best_params has "},
      {"best state short",
       [](v1::Checkpoint& c) { c.mutable_early_stopping()->mutable_best_state()->RemoveLast(); },
       "early_stopping.best_state has 15 values"},
      {"best epoch in the future",
       [](v1::Checkpoint& c) { c.mutable_early_stopping()->set_best_epoch(3); },
       "early_stopping.best_epoch is 3"},
      {"history out of order",
       [](v1::Checkpoint& c) { c.mutable_history(1)->set_epoch(1); }, "history[1].epoch is 1"},
      {"bad dataset sha", [](v1::Checkpoint& c) { c.set_dataset_sha256("ABC"); },
       "dataset_sha256 must be empty or 64 lowercase hex digits"},
  };
  for (const BadCase& bad : cases) {
    v1::Checkpoint c = MakeCheckpoint();
    bad.mutate(c);
    absl::Status s = ValidateCheckpoint(c);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad.name << ": " << s;
    EXPECT_THAT(std::string(s.message()), StartsWith(absl::StrCat("checkpoint: ", bad.message)))
        << bad.name;
  }
}

TEST(CheckpointTest, ParamsMessageGivesBothCounts) {
  v1::Checkpoint c = MakeCheckpoint();
  c.mutable_model()->clear_layers();
  c.mutable_model()->add_layers()->mutable_dense()->set_units(3);  // 3x3 + 3 = 12
  c.mutable_model()->add_layers()->mutable_dense()->set_units(2);  // 3x2 + 2 = 8
  c.clear_layer_state();
  c.mutable_early_stopping()->clear_best_state();
  c.mutable_params()->Truncate(10);
  EXPECT_EQ(ValidateCheckpoint(c).message(),
            "checkpoint: params has 10 values, the model needs 20");
}

TEST(CheckpointTest, OptionalPartsMayBeEmpty) {
  v1::Checkpoint c = MakeCheckpoint();
  c.clear_optimizer_state();  // plain SGD keeps no buffers
  c.mutable_early_stopping()->clear_best_params();
  c.mutable_early_stopping()->clear_best_state();
  c.clear_history();
  c.clear_dataset_sha256();
  c.mutable_preprocessor()->Clear();
  EXPECT_EQ(ValidateCheckpoint(c), absl::OkStatus());
}

TEST(CheckpointTest, ModelLimitsApply) {
  ModelLimits limits;
  limits.max_params = 10;
  absl::Status s = ValidateCheckpoint(MakeCheckpoint(), limits);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), StartsWith("checkpoint: model."));
}

// ValidateCheckpointFor checks the buffers against the shape it is given (the
// caller's analysis of the spec), not against the spec stored in the file.
TEST(CheckpointTest, ValidateForChecksAgainstTheGivenShape) {
  const v1::Checkpoint c = MakeCheckpoint();
  absl::StatusOr<ModelShape> shape = AnalyzeModel(c.model());
  ASSERT_TRUE(shape.ok()) << shape.status();
  EXPECT_EQ(ValidateCheckpointFor(c, *shape, c.training()), absl::OkStatus());
  ModelShape wider = *shape;
  wider.num_params += 1;
  EXPECT_EQ(ValidateCheckpointFor(c, wider, c.training()).message(),
            absl::StrCat("checkpoint: params has ", shape->num_params,
                         " values, the model needs ", wider.num_params));
}

TEST(CheckpointFileTest, WriteThenReadRoundTrips) {
  TempDir dir;
  const std::string path = dir.path() + "/a.ckpt";
  const v1::Checkpoint c = MakeCheckpoint();
  ASSERT_EQ(WriteCheckpointFile(path, c), absl::OkStatus());
  absl::StatusOr<v1::Checkpoint> back = ReadCheckpointFile(path);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(Equal(c, *back));
  EXPECT_EQ(dir.Entries(), std::set<std::string>{"a.ckpt"});
}

TEST(CheckpointFileTest, OverwriteReplacesAndLeavesNoTempFile) {
  TempDir dir;
  const std::string path = dir.path() + "/a.ckpt";
  v1::Checkpoint c = MakeCheckpoint();
  ASSERT_EQ(WriteCheckpointFile(path, c), absl::OkStatus());
  c.set_step(99);
  ASSERT_EQ(WriteCheckpointFile(path, c), absl::OkStatus());
  absl::StatusOr<v1::Checkpoint> back = ReadCheckpointFile(path);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->step(), 99);
  EXPECT_EQ(dir.Entries(), std::set<std::string>{"a.ckpt"});
}

TEST(CheckpointFileTest, MissingDirectoryIsNotFound) {
  TempDir dir;
  const std::string path = dir.path() + "/no/such/dir/a.ckpt";
  absl::Status s = WriteCheckpointFile(path, MakeCheckpoint());
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(s.message()), HasSubstr(dir.path() + "/no/such/dir/"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("No such file or directory"));
  EXPECT_TRUE(dir.Entries().empty());
}

TEST(CheckpointFileTest, ReadMissingFileIsNotFound) {
  TempDir dir;
  absl::StatusOr<v1::Checkpoint> r = ReadCheckpointFile(dir.path() + "/none.ckpt");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("none.ckpt"));
}

TEST(CheckpointFileTest, CorruptFileOnDiskIsDataLossNamingThePath) {
  TempDir dir;
  const std::string path = dir.path() + "/a.ckpt";
  std::string bytes = EncodeCheckpoint(MakeCheckpoint()).value();
  bytes[bytes.size() - 3] ^= 0x40;
  ASSERT_EQ(WriteFileAtomically(path, bytes), absl::OkStatus());
  absl::StatusOr<v1::Checkpoint> r = ReadCheckpointFile(path);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(r.status().message()), StartsWith(path + ": "));
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("sha256 mismatch"));
}

TEST(CheckpointFileTest, NonCheckpointFileIsBadMagic) {
  TempDir dir;
  const std::string path = dir.path() + "/data.csv";
  ASSERT_EQ(WriteFileAtomically(path, "x,y\n1,2\n"), absl::OkStatus());
  absl::StatusOr<v1::Checkpoint> r = ReadCheckpointFile(path);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), path + ": not a trainyard checkpoint (bad magic)");
}

}  // namespace
}  // namespace trainyard
