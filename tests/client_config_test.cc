// client/config_file.h and client/config_override.h: YAML and JSON config
// files to the JSON text SubmitJob carries, --set PATH=VALUE, and the
// server's positions rewritten into the user's file.
#include <string>

#include "client/config_file.h"
#include "client/config_override.h"
#include "client/errors.h"
#include "core/spec_json.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "trainyard/v1/model.pb.h"
#include "trainyard/v1/training.pb.h"

namespace trainyard::client {
namespace {

using ::testing::HasSubstr;

constexpr char kTrainingYaml[] =
    "# a comment\n"
    "loss:\n"
    "  kind: SOFTMAX_CROSS_ENTROPY\n"
    "optimizer:\n"
    "  adam: {beta1: 0.8}\n"
    "  learning_rate: 1e-3\n"
    "batch_size: 32\n"
    "epochs: 4\n"
    "seed: 0x10\n"
    "early_stopping:\n"
    "  restore_best: true\n";

ConfigFile Load(const std::string& file, const std::string& text,
                const std::string& root = "training") {
  absl::StatusOr<ConfigFile> config =
      ConfigFile::Load(root == "model" ? "--model" : "--training", root, file, text);
  EXPECT_TRUE(config.ok()) << config.status();
  return config.ok() ? *std::move(config) : *ConfigFile::Load("--x", root, "x.json", "{}");
}

v1::TrainingConfig Parsed(const ConfigFile& file) {
  absl::StatusOr<v1::TrainingConfig> config = ParseTrainingConfigJson(file.WireJson());
  EXPECT_TRUE(config.ok()) << config.status() << "\n" << file.WireJson();
  return config.ok() ? *config : v1::TrainingConfig();
}

absl::Status Set(ConfigFile* file, const std::string& arg) {
  absl::StatusOr<ConfigOverride> edit = ParseOverride(arg);
  if (!edit.ok()) return edit.status();
  const google::protobuf::Descriptor* type = edit->root == "model"
                                                 ? v1::ModelSpec::descriptor()
                                                 : v1::TrainingConfig::descriptor();
  return ApplyOverride(*edit, type, file);
}

TEST(ConfigFile, JsonIsSentAsWrittenAndYamlIsConverted) {
  const std::string json = "{\"epochs\": 3,   \"batch_size\": 8}";
  ConfigFile as_json = Load("t.json", json);
  EXPECT_FALSE(as_json.is_yaml());
  EXPECT_EQ(as_json.WireJson(), json);

  ConfigFile yaml = Load("t.yaml", kTrainingYaml);
  EXPECT_TRUE(yaml.is_yaml());
  const v1::TrainingConfig config = Parsed(yaml);
  EXPECT_EQ(config.loss().kind(), v1::SOFTMAX_CROSS_ENTROPY);
  EXPECT_FLOAT_EQ(config.optimizer().adam().beta1(), 0.8f);
  EXPECT_DOUBLE_EQ(config.optimizer().learning_rate(), 1e-3);
  EXPECT_EQ(config.batch_size(), 32);
  EXPECT_EQ(config.seed(), 16u);
  EXPECT_TRUE(config.early_stopping().restore_best());
  // Numbers written in JSON form go out digit for digit.
  EXPECT_THAT(yaml.WireJson(), HasSubstr("\"learning_rate\": 1e-3"));
}

TEST(ConfigFile, FormatFollowsTheNameElseTheContent) {
  EXPECT_TRUE(Load("t.yml", "epochs: 3").is_yaml());
  EXPECT_TRUE(Load("t.conf", "epochs: 3").is_yaml());
  EXPECT_FALSE(Load("t.conf", "  {\"epochs\": 3}").is_yaml());
  // A .yaml file holding JSON is read as YAML (JSON is YAML).
  EXPECT_EQ(Parsed(Load("t.yaml", "{\"epochs\": 3}")).epochs(), 3);
}

TEST(ConfigFile, YamlScalarsKeepTheirTypes) {
  // Quoted stays a string, so the server refuses "3" for an int32 by name.
  ConfigFile file = Load("t.yaml", "epochs: '3'\nname: x\nflag: yes\nn: ~\nf: .5\ni: +7\nz: 007\n"
                                   "inf: -.inf\ns: \"true\"\nb: False\n");
  const std::string wire = file.WireJson();
  EXPECT_THAT(wire, HasSubstr("\"epochs\": \"3\""));
  EXPECT_THAT(wire, HasSubstr("\"name\": \"x\""));
  EXPECT_THAT(wire, HasSubstr("\"flag\": \"yes\""));  // YAML 1.2: yes is a string
  EXPECT_THAT(wire, HasSubstr("\"n\": null"));
  EXPECT_THAT(wire, HasSubstr("\"f\": 0.5"));
  EXPECT_THAT(wire, HasSubstr("\"i\": 7"));
  EXPECT_THAT(wire, HasSubstr("\"z\": 7"));
  EXPECT_THAT(wire, HasSubstr("\"inf\": \"-Infinity\""));
  EXPECT_THAT(wire, HasSubstr("\"s\": \"true\""));
  EXPECT_THAT(wire, HasSubstr("\"b\": false"));
}

TEST(ConfigFile, BadYamlIsALocalInputErrorWithTheLine) {
  struct Case {
    const char* text;
    const char* expect;
  } cases[] = {
      {"epochs: 3\noptimizer: [1, 2\n", "--training t.yaml: YAML: "},
      {"epochs: 3\nbatch_size: 1\nepochs: 4\n",
       "--training t.yaml: training.epochs: repeated key (line 3, column 1)"},
      {"- 1\n- 2\n", "must be a mapping of field names to values (line 1, column 1)"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<ConfigFile> file = ConfigFile::Load("--training", "training", "t.yaml", c.text);
    ASSERT_FALSE(file.ok()) << c.text;
    EXPECT_EQ(ExitCodeFor(file.status()), kExitUsage);
    EXPECT_THAT(std::string(file.status().message()), HasSubstr(c.expect));
  }
  absl::StatusOr<ConfigFile> file =
      ConfigFile::Load("--training", "training", "t.yaml", "epochs: 3\noptimizer: [1, 2\n");
  EXPECT_THAT(std::string(file.status().message()), HasSubstr("line 3"));
}

TEST(ConfigFile, ServerPositionsBecomeLinesInTheYamlFile) {
  ConfigFile yaml = Load("t.yaml", "loss:\n  kind: MSE\noptimizer:\n  adamm: {}\n");
  EXPECT_EQ(yaml.Explain("training_json: training.optimizer.adamm: unknown field "
                         "(line 5, column 5)"),
            "--training t.yaml: training.optimizer.adamm: unknown field "
            "(t.yaml line 4, column 3)");
  // A validator's message: its position too; camelCase keys match.
  ConfigFile camel = Load("t.yaml", "batchSize: 0\n");
  EXPECT_EQ(camel.Explain("training.batch_size must be > 0, got 0 (training_json line 2, "
                          "column 17)"),
            "training.batch_size must be > 0, got 0 (t.yaml line 1, column 1)");
  // Other messages, and messages about the model, pass unchanged.
  EXPECT_EQ(yaml.Explain("dataset_id: dataset ds-1 not found"),
            "dataset_id: dataset ds-1 not found");
  EXPECT_EQ(yaml.Explain("model_json: model.x: unknown field (line 1, column 2)"),
            "model_json: model.x: unknown field (line 1, column 2)");
}

TEST(ConfigFile, AJsonFileSentAsWrittenKeepsTheServersPosition) {
  ConfigFile json = Load("t.json", "{\n  \"epochz\": 3}");
  EXPECT_EQ(json.Explain("training_json: training.epochz: unknown field (line 2, column 3)"),
            "--training t.json: training.epochz: unknown field (t.json line 2, column 3)");
  EXPECT_EQ(json.Explain("training_json: malformed JSON: expected a value (line 1, column 9)"),
            "--training t.json: malformed JSON: expected a value (t.json line 1, column 9)");
}

TEST(ConfigOverride, PathsParse) {
  absl::StatusOr<ConfigOverride> edit = ParseOverride("model.layers[0].dense.units=64");
  ASSERT_TRUE(edit.ok()) << edit.status();
  EXPECT_EQ(edit->root, "model");
  ASSERT_EQ(edit->path.size(), 4u);
  EXPECT_EQ(edit->path[0].name, "layers");
  EXPECT_EQ(edit->path[1].index, 0);
  EXPECT_EQ(edit->path[3].name, "units");
  EXPECT_EQ(edit->value, "64");
  edit = ParseOverride("training.loss.kind=a=b");  // the first '=' splits
  ASSERT_TRUE(edit.ok());
  EXPECT_EQ(edit->value, "a=b");
  for (const char* bad : {"training.epochs", "epochs=3", "training=3", "training..epochs=3",
                          "training.layers[x]=1", "training.layers[-1]=1", "training[0]=1",
                          "model.layers[0=1", "training.epochs!=3", "=3"}) {
    absl::StatusOr<ConfigOverride> r = ParseOverride(bad);
    EXPECT_FALSE(r.ok()) << bad;
    EXPECT_TRUE(IsUsageError(r.status())) << bad;
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(bad));
  }
}

TEST(ConfigOverride, SetsValuesCreatingMessagesOnTheWay) {
  ConfigFile file = Load("t.yaml", kTrainingYaml);
  ASSERT_TRUE(Set(&file, "training.epochs=3").ok());
  ASSERT_TRUE(Set(&file, "training.optimizer.learningRate=0.01").ok());
  ASSERT_TRUE(Set(&file, "training.schedule.warmup.steps=5").ok());  // created
  ASSERT_TRUE(Set(&file, "training.loss.kind=MSE").ok());            // not JSON: a string
  ASSERT_TRUE(Set(&file, "training.optimizer.adam={\"beta2\": 0.9}").ok());
  const v1::TrainingConfig config = Parsed(file);
  EXPECT_EQ(config.epochs(), 3);
  EXPECT_DOUBLE_EQ(config.optimizer().learning_rate(), 0.01);
  EXPECT_EQ(config.schedule().warmup().steps(), 5);
  EXPECT_EQ(config.loss().kind(), v1::MSE);
  EXPECT_FALSE(config.optimizer().adam().has_beta1());  // the object replaced the old one
  EXPECT_FLOAT_EQ(config.optimizer().adam().beta2(), 0.9f);
  EXPECT_EQ(config.batch_size(), 32);  // untouched

  // A JSON file with a --set is converted too.
  ConfigFile model = Load("m.json",
                          "{\"input_dim\": 2, \"layers\": [{\"dense\": {\"units\": 3}},"
                          " {\"activation\": {\"kind\": \"RELU\"}}]}",
                          "model");
  ASSERT_TRUE(Set(&model, "model.layers[0].dense.units=64").ok());
  absl::StatusOr<v1::ModelSpec> spec = ParseModelSpecJson(model.WireJson());
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->layers(0).dense().units(), 64);
  EXPECT_EQ(spec->layers(1).activation().kind(), v1::RELU);
}

TEST(ConfigOverride, PathsThatDoNotExistAreLocalErrorsNamingTheStep) {
  const std::string model_json =
      "{\"input_dim\": 2, \"layers\": [{\"dense\": {\"units\": 3}}]}";
  struct Case {
    const char* arg;
    const char* expect;
  } cases[] = {
      {"training.epochz=3", "training.epochz: no such field in trainyard.v1.TrainingConfig"},
      {"training.optimizer.sgd.momentum=0.9",
       "training.optimizer.sgd: the file already sets training.optimizer.adam, another "
       "choice of the oneof 'kind'"},
      {"training.epochs.x=1", "training.epochs: is a value, not a message"},
      {"training.epochs[0]=1", "training.epochs[0]: training.epochs is not a list"},
      {"model.layers[1].dense.units=4",
       "model.layers[1]: no such element: the file's model.layers has 1 element"},
      {"model.layers.dense=1", "model.layers: is a list: index it, e.g. model.layers[0]"},
  };
  for (const Case& c : cases) {
    ConfigFile file = absl::string_view(c.arg).substr(0, 5) == "model"
                          ? Load("m.json", model_json, "model")
                          : Load("t.yaml", kTrainingYaml);
    absl::Status s = Set(&file, c.arg);
    ASSERT_FALSE(s.ok()) << c.arg;
    EXPECT_EQ(ExitCodeFor(s), kExitUsage) << c.arg;
    EXPECT_THAT(std::string(s.message()), HasSubstr(c.expect)) << c.arg;
  }
  // Clearing one choice of a oneof first makes room for another.
  ConfigFile file = Load("t.yaml", kTrainingYaml);
  ASSERT_TRUE(Set(&file, "training.optimizer.adam=null").ok());
  ASSERT_TRUE(Set(&file, "training.optimizer.sgd.momentum=0.9").ok());
  const v1::TrainingConfig config = Parsed(file);
  EXPECT_FLOAT_EQ(config.optimizer().sgd().momentum(), 0.9f);
  EXPECT_DOUBLE_EQ(config.optimizer().learning_rate(), 1e-3);  // the rest is kept
}

TEST(ConfigOverride, MalformedJsonUnderASetIsALocalErrorWithTheLine) {
  ConfigFile file = Load("t.json", "{\"epochs\": 3,\n}");
  absl::Status s = Set(&file, "training.epochs=4");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(ExitCodeFor(s), kExitUsage);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("--training t.json: malformed JSON: expected a string key"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("(line 2, column 1)"));
}

TEST(ConfigOverride, ServerErrorsAboutASetFieldNameTheSet) {
  ConfigFile file = Load("t.yaml", kTrainingYaml);
  ASSERT_TRUE(Set(&file, "training.epochs=0").ok());
  EXPECT_EQ(file.Explain("training.epochs must be > 0, got 0 (training_json line 9, column 13)"),
            "training.epochs must be > 0, got 0 (from --set training.epochs=0)");
  // A field the set did not touch still points into the file.
  EXPECT_EQ(file.Explain("training.batch_size must be > 0 (training_json line 8, column 3)"),
            "training.batch_size must be > 0 (t.yaml line 7, column 1)");
}

}  // namespace
}  // namespace trainyard::client
