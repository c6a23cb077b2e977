// SubmitJobRequest.model_json / training_json through the real transport:
// strict parsing with field paths and line/column positions, exclusivity
// with the typed fields, and the same checks (validation, limits, memory
// budget, validate_only, request_id) as the typed form.
#include <string>

#include "google/protobuf/util/message_differencer.h"
#include "tests/testing/service_fixture.h"

namespace trainyard::testing {
namespace {

class ServiceJsonConfigTest : public ServiceFixture {
 protected:
  grpc::Status Submit(const v1::SubmitJobRequest& request) {
    v1::Job job;
    return stub_->SubmitJob(Ctx().get(), request, &job);
  }
};
using grpc::StatusCode;
using google::protobuf::util::MessageDifferencer;

constexpr char kModelJson[] = R"({
  "input_dim": 2,
  "layers": [
    {"dense": {"units": 8}},
    {"activation": {"kind": "TANH"}},
    {"dense": {"units": 2}}
  ]
})";

constexpr char kTrainingJson[] = R"({
  "loss": {"kind": "SOFTMAX_CROSS_ENTROPY"},
  "optimizer": {"adam": {}, "learningRate": 0.05},
  "batch_size": 10,
  "epochs": 2,
  "seed": 1
})";

// A JSON-form request for `dataset_id`.
v1::SubmitJobRequest JsonJob(const std::string& dataset_id, std::string model = kModelJson,
                             std::string training = kTrainingJson) {
  v1::SubmitJobRequest r;
  r.set_dataset_id(dataset_id);
  r.set_model_json(std::move(model));
  r.set_training_json(std::move(training));
  return r;
}

// The same request with the typed messages.
v1::SubmitJobRequest TypedJob(const std::string& dataset_id) {
  v1::SubmitJobRequest r;
  r.set_dataset_id(dataset_id);
  *r.mutable_model() = FromJson<v1::ModelSpec>(kModelJson);
  *r.mutable_training() = FromJson<v1::TrainingConfig>(kTrainingJson);
  return r;
}

// A refused call's code and message.
class Refusal {
 public:
  Refusal(const grpc::Status& status)  // NOLINT: implicit, from a call's result
      : code_(status.error_code()), message_(status.error_message()) {}
  bool Says(const std::string& part) const { return message_.find(part) != std::string::npos; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  StatusCode code_;
  std::string message_;
};

TEST_F(ServiceJsonConfigTest, JsonFormsTrainTheSameJobAsTheTypedMessages) {
  Start();
  const v1::Dataset ds = UploadOk();
  v1::SubmitJobRequest json = JsonJob(ds.id());
  json.set_validate_only(true);
  v1::Job from_json = SubmitOk(json);
  v1::SubmitJobRequest typed = TypedJob(ds.id());
  typed.set_validate_only(true);
  v1::Job from_typed = SubmitOk(typed);
  EXPECT_TRUE(from_json.id().empty());  // validate_only creates nothing
  EXPECT_TRUE(MessageDifferencer::Equals(from_json.model(), from_typed.model()));
  EXPECT_TRUE(MessageDifferencer::Equals(from_json.training(), from_typed.training()));
  EXPECT_EQ(from_json.progress().total_steps(), from_typed.progress().total_steps());
  v1::ListJobsResponse list;
  ASSERT_TRUE(stub_->ListJobs(Ctx().get(), {}, &list).ok());
  EXPECT_EQ(list.jobs_size(), 0);

  // A real job records the parsed config; the same request_id returns it.
  json.set_validate_only(false);
  json.set_request_id("json-once");
  v1::Job first = SubmitOk(json);
  ASSERT_FALSE(first.id().empty());
  EXPECT_EQ(first.training().epochs(), 2);
  EXPECT_EQ(first.model().layers(0).dense().units(), 8);
  v1::Job again = SubmitOk(json);
  EXPECT_EQ(again.id(), first.id());
  std::vector<v1::JobEvent> events;
  ASSERT_TRUE(Watch(first.id(), 0, &events).ok());
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().state_change().to(), v1::SUCCEEDED);
}

TEST_F(ServiceJsonConfigTest, EachFormIsExclusiveWithItsTypedField) {
  Start();
  const v1::Dataset ds = UploadOk();
  v1::SubmitJobRequest both = JsonJob(ds.id());
  *both.mutable_model() = TypedJob(ds.id()).model();
  Refusal r = Submit(both);
  EXPECT_EQ(r.code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(r.Says("model and model_json are exclusive")) << r.message();

  both = JsonJob(ds.id());
  *both.mutable_training() = TypedJob(ds.id()).training();
  r = Submit(both);
  EXPECT_EQ(r.code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(r.Says("training and training_json are exclusive")) << r.message();

  // One of each form is fine.
  v1::SubmitJobRequest mixed = TypedJob(ds.id());
  mixed.clear_training();
  mixed.set_training_json(kTrainingJson);
  mixed.set_validate_only(true);
  SubmitOk(mixed);
}

struct BadText {
  const char* name;
  bool in_model;       // the text goes into model_json (else training_json)
  std::string text;
  std::string expect;  // the message names this
  std::string position;
};

TEST_F(ServiceJsonConfigTest, BadTextIsInvalidArgumentNamingThePathAndTheLine) {
  Start();
  const v1::Dataset ds = UploadOk();
  const BadText cases[] = {
      {"unknown field", false,
       "{\n  \"loss\": {\"kind\": \"MSE\"},\n  \"optimizer\": {\n    \"adamm\": {}\n  }\n}",
       "training_json: training.optimizer.adamm: unknown field", "line 4, column 5"},
      {"unknown field in a repeated message", true,
       "{\"input_dim\": 2,\n \"layers\": [{\"dense\": {\"units\": 3}},\n"
       "            {\"dense\": {\"unit\": 3}}]}",
       "model_json: model.layers[1].dense.unit: unknown field", "line 3, column 24"},
      {"malformed", true, "{\"input_dim\": 2,\n \"layers\": [,]}",
       "model_json: malformed JSON: expected a value", "line 2, column 13"},
      {"trailing comma", false, "{\"epochs\": 3,\n}",
       "training_json: malformed JSON: expected a string key", "line 2, column 1"},
      {"wrong type", false, "{\"batch_size\": 10,\n \"epochs\": \"three\"}",
       "training_json: training.epochs: invalid value \"three\" for int32", "line 2, column 12"},
      {"bad enum", true, "{\"input_dim\": 2, \"layers\": [\n  {\"activation\": {\"kind\": \"TANHH\"}}]}",
       "model_json: model.layers[0].activation.kind: invalid value \"TANHH\" for "
       "trainyard.v1.ActivationKind", "line 2, column 27"},
      {"two oneof members", false,
       "{\"optimizer\": {\n  \"adam\": {},\n  \"sgd\": {}}}",
       "training_json: training.optimizer.sgd: the oneof 'kind' is already set",
       "line 3, column 3"},
      {"repeated key", false, "{\"epochs\": 3,\n \"epochs\": 4}",
       "training_json: malformed JSON: duplicate key \"epochs\"", "line 2, column 2"},
      {"not an object", true, "[1, 2]", "model_json: must be a JSON object", "line 1, column 1"},
  };
  for (const BadText& c : cases) {
    v1::SubmitJobRequest request = JsonJob(ds.id());
    if (c.in_model) {
      request.set_model_json(c.text);
    } else {
      request.set_training_json(c.text);
    }
    const Refusal r = Submit(request);
    EXPECT_EQ(r.code(), StatusCode::INVALID_ARGUMENT) << c.name;
    EXPECT_TRUE(r.Says(c.expect)) << c.name << ": " << r.message();
    EXPECT_TRUE(r.Says("(" + c.position + ")")) << c.name << ": " << r.message();
  }
  v1::ListJobsResponse list;
  ASSERT_TRUE(stub_->ListJobs(Ctx().get(), {}, &list).ok());
  EXPECT_EQ(list.jobs_size(), 0);
}

TEST_F(ServiceJsonConfigTest, ValidationOfTheParsedConfigPointsIntoTheText) {
  Start([](server::ServerOptions& o) { o.max_params = 20; });
  const v1::Dataset ds = UploadOk();
  const std::string small_model =
      R"({"input_dim": 2, "layers": [{"dense": {"units": 2}}]})";
  // A value out of range: the validator's message, with the value's position.
  Refusal r = Submit(JsonJob(ds.id(), small_model,
                             "{\"loss\": {\"kind\": \"MSE\"}, \"optimizer\": {\"sgd\": {}},\n"
                             " \"batch_size\": 10, \"epochs\": 0}"));
  EXPECT_EQ(r.code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(r.Says("training.epochs")) << r.message();
  EXPECT_TRUE(r.Says("(training_json line 2, column 30)")) << r.message();

  // The parameter limit applies to the JSON form as to the typed one.
  v1::SubmitJobRequest request = JsonJob(ds.id(), small_model);
  request.set_validate_only(true);
  SubmitOk(request);
  r = Submit(JsonJob(ds.id()));  // 2*8+8 + 8*2+2 = 42 parameters > 20
  EXPECT_EQ(r.code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(r.Says("more than the limit 20")) << r.message();
  const Refusal typed = Submit(TypedJob(ds.id()));
  EXPECT_EQ(typed.code(), r.code());
  EXPECT_EQ(typed.message(), r.message());
}

TEST_F(ServiceJsonConfigTest, MemoryBudgetAppliesToTheJsonForm) {
  Start([](server::ServerOptions& o) { o.max_job_memory = 1000; });
  const v1::Dataset ds = UploadOk();
  const Refusal r = Submit(JsonJob(ds.id()));
  EXPECT_EQ(r.code(), StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_TRUE(r.Says("training.batch_size")) << r.message();
  const Refusal typed = Submit(TypedJob(ds.id()));
  EXPECT_EQ(typed.code(), r.code());
  EXPECT_EQ(typed.message(), r.message());
}

}  // namespace
}  // namespace trainyard::testing
