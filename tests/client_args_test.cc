// Arguments to requests, name-or-id resolution, prediction input parsing,
// exit codes, and the CLI's behaviour on bad usage (no server needed: every
// case fails before the first RPC, or against an address nobody serves).
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "client/args.h"
#include "client/cli.h"
#include "client/errors.h"
#include "client/resolve.h"

namespace trainyard::client {
namespace {

TEST(ExitCodes, ByOriginAndCode) {
  EXPECT_EQ(ExitCodeFor(absl::OkStatus()), 0);
  EXPECT_EQ(ExitCodeFor(UsageError("x")), 2);
  EXPECT_EQ(ExitCodeFor(LocalInputError(absl::StatusCode::kNotFound, "x")), 2);
  EXPECT_EQ(ExitCodeFor(absl::InvalidArgumentError("from server")), 3);
  EXPECT_EQ(ExitCodeFor(absl::NotFoundError("from server")), 3);
  EXPECT_EQ(ExitCodeFor(absl::DeadlineExceededError("slow")), 3);
  EXPECT_EQ(ExitCodeFor(absl::UnavailableError("down")), 4);
  EXPECT_EQ(ExitCodeFor(LocalError(absl::StatusCode::kDataLoss, "bad hash")), 5);
  EXPECT_EQ(ExitCodeForJobState(v1::SUCCEEDED), 0);
  EXPECT_EQ(ExitCodeForJobState(v1::FAILED), 1);
  EXPECT_EQ(ExitCodeForJobState(v1::CANCELLED), 1);
  EXPECT_EQ(FormatError(absl::FailedPreconditionError("job-1 is running")),
            "error: FAILED_PRECONDITION: job-1 is running");
  EXPECT_TRUE(IsUsageError(UsageError("x")));
  EXPECT_FALSE(IsUsageError(LocalInputError(absl::StatusCode::kNotFound, "x")));
}

TEST(DatasetUpload, CsvOptionsFromFlags) {
  DatasetUploadArgs args;
  args.file = "/data/iris.csv";
  args.header = true;
  args.delimiter = "tab";
  args.label_columns = {"species", "4"};
  args.regression = true;
  args.preprocessing = "Standardize";
  absl::StatusOr<DatasetUpload> upload = BuildDatasetUpload(args);
  ASSERT_TRUE(upload.ok()) << upload.status();
  EXPECT_EQ(upload->header.name(), "iris.csv");
  EXPECT_EQ(upload->header.format(), v1::CSV);
  const v1::CsvOptions& csv = upload->header.csv_options();
  EXPECT_TRUE(csv.has_header());
  EXPECT_EQ(csv.delimiter(), "\t");
  ASSERT_EQ(csv.label_columns_size(), 2);
  EXPECT_EQ(csv.label_columns(1), "4");
  EXPECT_EQ(csv.label_kind(), v1::REGRESSION_TARGETS);
  EXPECT_EQ(csv.preprocessing(), v1::STANDARDIZE);
  EXPECT_EQ(upload->files, (std::vector<std::string>{"/data/iris.csv"}));
}

TEST(DatasetUpload, IdxIsImpliedByLabelsAndSendsBothFiles) {
  DatasetUploadArgs args;
  args.file = "train-images.gz";
  args.labels_file = "train-labels.gz";
  args.name = "mnist";
  args.preprocessing = "scale01";
  absl::StatusOr<DatasetUpload> upload = BuildDatasetUpload(args);
  ASSERT_TRUE(upload.ok()) << upload.status();
  EXPECT_EQ(upload->header.format(), v1::IDX);
  EXPECT_EQ(upload->header.idx_preprocessing(), v1::SCALE_01);
  EXPECT_EQ(upload->files, (std::vector<std::string>{"train-images.gz", "train-labels.gz"}));
}

TEST(DatasetUpload, BadCombinationsAreUsageErrorsNamingTheFlag) {
  auto error = [](DatasetUploadArgs args) {
    absl::StatusOr<DatasetUpload> upload = BuildDatasetUpload(args);
    EXPECT_FALSE(upload.ok());
    EXPECT_TRUE(IsUsageError(upload.status()));
    return std::string(upload.status().message());
  };
  DatasetUploadArgs idx_without_labels;
  idx_without_labels.file = "x";
  idx_without_labels.format = "idx";
  EXPECT_NE(error(idx_without_labels).find("--labels"), std::string::npos);
  DatasetUploadArgs long_delimiter;
  long_delimiter.file = "x.csv";
  long_delimiter.delimiter = ";;";
  EXPECT_NE(error(long_delimiter).find("--delimiter"), std::string::npos);
  DatasetUploadArgs csv_with_labels;
  csv_with_labels.file = "x.csv";
  csv_with_labels.format = "csv";
  csv_with_labels.labels_file = "y";
  EXPECT_NE(error(csv_with_labels).find("--labels"), std::string::npos);
  DatasetUploadArgs idx_with_header = idx_without_labels;
  idx_with_header.labels_file = "l";
  idx_with_header.header = true;
  EXPECT_NE(error(idx_with_header).find("--header"), std::string::npos);
}

constexpr char kModel[] = R"({"input_dim": 2, "layers": []})";

TEST(SubmitRequest, FlagsAndJsonBecomeTheRequest) {
  JobSubmitArgs args;
  args.model_file = "m.json";
  args.training_file = "t.json";
  args.dataset = "xor";
  args.name = "run 1";
  args.priority = 5;
  args.threads = 2;
  args.request_id = "r-1";
  args.init_from = "abc";
  SubmitConfigs configs;
  absl::StatusOr<v1::SubmitJobRequest> request =
      BuildSubmitRequest(args, kModel, R"({"epochs": 7})", &configs);
  ASSERT_TRUE(request.ok()) << request.status();
  // JSON files travel as written, for the server to parse strictly.
  EXPECT_FALSE(request->has_model());
  EXPECT_EQ(request->model_json(), kModel);
  EXPECT_EQ(request->training_json(), R"({"epochs": 7})");
  EXPECT_EQ(request->name(), "run 1");
  EXPECT_EQ(request->priority(), 5);
  EXPECT_EQ(request->threads(), 2);
  EXPECT_EQ(request->request_id(), "r-1");
  EXPECT_EQ(request->init_from_checkpoint_id(), "abc");
  EXPECT_TRUE(request->dataset_id().empty());  // resolved later, by the command
}

TEST(SubmitRequest, ResumeNeedsNoSpecs) {
  JobSubmitArgs args;
  args.dataset = "ds-0123456789abcdef";
  args.resume_from = "abc";
  SubmitConfigs configs;
  absl::StatusOr<v1::SubmitJobRequest> request = BuildSubmitRequest(args, "", "", &configs);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_FALSE(request->has_model());
  EXPECT_TRUE(request->model_json().empty());
  EXPECT_EQ(request->resume_from_checkpoint_id(), "abc");
}

TEST(SubmitRequest, InvalidCombinationsAndJson) {
  JobSubmitArgs base;
  base.model_file = "m.json";
  base.training_file = "t.json";
  base.dataset = "d";
  auto message = [](const JobSubmitArgs& args, const std::string& model,
                    const std::string& training) {
    SubmitConfigs configs;
    absl::StatusOr<v1::SubmitJobRequest> r = BuildSubmitRequest(args, model, training, &configs);
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(ExitCodeFor(r.status()), 2) << r.status();
    return std::string(r.status().message());
  };
  JobSubmitArgs both = base;
  both.init_from = "a";
  both.resume_from = "b";
  EXPECT_NE(message(both, kModel, "{}").find("--init-from"), std::string::npos);
  JobSubmitArgs no_model = base;
  no_model.model_file.clear();
  EXPECT_NE(message(no_model, "", "{}").find("--model"), std::string::npos);
  JobSubmitArgs wait_validate = base;
  wait_validate.wait = wait_validate.validate_only = true;
  EXPECT_NE(message(wait_validate, kModel, "{}").find("--wait"), std::string::npos);
  JobSubmitArgs priority = base;
  priority.priority = 101;
  EXPECT_NE(message(priority, kModel, "{}").find("--priority"), std::string::npos);
  // A --set needs the file it edits, and a path that parses.
  JobSubmitArgs set_model = no_model;
  set_model.resume_from = "ckpt";
  set_model.sets = {"model.input_dim=3"};
  EXPECT_NE(message(set_model, "", "{}").find("needs --model FILE"), std::string::npos);
  JobSubmitArgs set_bad = base;
  set_bad.sets = {"epochs=3"};
  EXPECT_NE(message(set_bad, kModel, "{}").find("starts with model or training"),
            std::string::npos);
  // A typo in a JSON file is the server's to find (it is sent as written).
  SubmitConfigs configs;
  EXPECT_TRUE(BuildSubmitRequest(base, R"({"input_dimm": 2})", "{}", &configs).ok());
}

TEST(ResolveDataset, IdsPassThroughWithoutRpc) {
  int calls = 0;
  ListDatasetsByName list = [&](const std::string&) {
    ++calls;
    return absl::StatusOr<v1::ListDatasetsResponse>(v1::ListDatasetsResponse());
  };
  absl::StatusOr<ResolvedDataset> r = ResolveDataset("ds-0123456789abcdef", "--dataset", list);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->id, "ds-0123456789abcdef");
  EXPECT_EQ(calls, 0);
  EXPECT_FALSE(LooksLikeDatasetId("ds-0123456789ABCDEF"));
  EXPECT_FALSE(LooksLikeDatasetId("ds-0123"));
  EXPECT_FALSE(LooksLikeDatasetId("ds-0123456789abcdeg"));
  EXPECT_FALSE(LooksLikeDatasetId("ds-0123456789abcdef0"));
  EXPECT_FALSE(LooksLikeDatasetId("xs-0123456789abcdef"));
  EXPECT_FALSE(LooksLikeDatasetId("ds"));
  EXPECT_TRUE(LooksLikeDatasetId("ds-fedcba9876543210"));
}

TEST(ResolveDataset, NameTakesNewestAndSaysSoWhenAmbiguous) {
  std::string asked;
  ListDatasetsByName list = [&](const std::string& name) {
    asked = name;
    v1::ListDatasetsResponse response;
    response.add_datasets()->set_id("ds-newest");
    response.add_datasets()->set_id("ds-older");
    return absl::StatusOr<v1::ListDatasetsResponse>(response);
  };
  absl::StatusOr<ResolvedDataset> r = ResolveDataset("mnist", "--dataset", list);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(asked, "mnist");
  EXPECT_EQ(r->id, "ds-newest");
  EXPECT_NE(r->note.find("2 datasets are named 'mnist'; using the newest, ds-newest"),
            std::string::npos) << r->note;
}

TEST(ResolveDataset, UnknownNameIsNotFoundAndRpcErrorsPassThrough) {
  ListDatasetsByName none = [](const std::string&) {
    return absl::StatusOr<v1::ListDatasetsResponse>(v1::ListDatasetsResponse());
  };
  absl::StatusOr<ResolvedDataset> r = ResolveDataset("nope", "--dataset", none);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("no dataset named 'nope'"), std::string::npos);
  ListDatasetsByName down = [](const std::string&) {
    return absl::StatusOr<v1::ListDatasetsResponse>(absl::UnavailableError("down"));
  };
  EXPECT_EQ(ResolveDataset("x", "--dataset", down).status().code(),
            absl::StatusCode::kUnavailable);
}

TEST(PredictValues, RowsBySemicolonValuesByComma) {
  auto rows = ParseValuesArg(" 1, 2.5 ,-3;4,5e-1,6;");
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(*rows, (std::vector<std::vector<float>>{{1, 2.5f, -3}, {4, 0.5f, 6}}));
  v1::PredictRequest request = MakePredictRequest("ck", *rows, 3);
  EXPECT_EQ(request.num_rows(), 2);
  EXPECT_EQ(request.flat_size(), 6);
  EXPECT_EQ(request.flat(3), 4);
  EXPECT_EQ(request.mc_samples(), 3);
  EXPECT_FALSE(request.has_seed());  // unset unless --seed is given
  EXPECT_EQ(MakePredictRequest("ck", *rows, 3, 0).seed(), 0u);
  EXPECT_TRUE(MakePredictRequest("ck", *rows, 3, 0).has_seed());
  EXPECT_EQ(MakePredictRequest("ck", *rows, 3, 18446744073709551615u).seed(),
            18446744073709551615u);
}

TEST(PredictValues, ErrorsNameRowAndValue) {
  auto ragged = ParseValuesArg("1,2,3;4,5");
  EXPECT_EQ(ExitCodeFor(ragged.status()), 2);
  EXPECT_NE(ragged.status().message().find("row 2 has 2 values"), std::string::npos)
      << ragged.status();
  auto bad = ParseValuesArg("1,x");
  EXPECT_NE(bad.status().message().find("row 1, value 2: 'x'"), std::string::npos)
      << bad.status();
  EXPECT_FALSE(ParseValuesArg("1,nan").ok());
  EXPECT_FALSE(ParseValuesArg(";").ok());
}

TEST(PredictCsv, SkipsHeaderAndBlankLines) {
  auto rows = ParseCsvRows("x1,x2\r\n1,2\r\n\n3;4\n");
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(*rows, (std::vector<std::vector<float>>{{1, 2}, {3, 4}}));
  auto bad = ParseCsvRows("1,2\n3,oops\n");
  EXPECT_NE(bad.status().message().find("line 2, column 2"), std::string::npos)
      << bad.status();
  EXPECT_FALSE(ParseCsvRows("a,b\n").ok());
}

// Runs the CLI with a client factory that must not be reached.
struct CliRun {
  int code;
  std::string out, err;
  bool connected;
};

CliRun RunTrainyard(std::vector<std::string> args) {
  std::ostringstream out, err;
  CliContext ctx;
  ctx.out = &out;
  ctx.err = &err;
  bool connected = false;
  ctx.client_factory = [&](const ClientOptions&) -> absl::StatusOr<std::unique_ptr<Client>> {
    connected = true;
    return absl::UnavailableError("test: no server");
  };
  args.insert(args.begin(), "trainyard");
  std::vector<const char*> argv;
  for (const std::string& a : args) argv.push_back(a.c_str());
  const int code = RunCli(static_cast<int>(argv.size()), argv.data(), ctx);
  return {code, out.str(), err.str(), connected};
}

TEST(Cli, UsageErrorsExit2WithHelpAndNeverConnect) {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {},
           {"bogus"},
           {"datasets"},
           {"jobs", "show"},
           {"jobs", "submit", "--model", "m", "--training", "t"},  // no --dataset
           {"jobs", "submit", "--dataset", "d", "--init-from", "a", "--resume-from", "b"},
           {"jobs", "submit", "--dataset", "d"},  // no --model/--training
           {"jobs", "submit", "--dataset", "d", "--validate-only", "--wait"},
           {"jobs", "submit", "--dataset", "d", "--priority", "500"},
           {"predict", "ck"},  // neither --input nor --values
           {"predict", "ck", "--values", "1", "--input", "f"},
           {"datasets", "upload", "f.csv", "--format", "parquet"},
           {"--output", "yaml", "datasets", "list"},
           {"--timeout", "0", "health"},
       }) {
    CliRun run = RunTrainyard(args);
    std::string joined;
    for (const auto& a : args) joined += a + " ";
    EXPECT_EQ(run.code, 2) << joined << "\n" << run.err;
    EXPECT_FALSE(run.connected) << joined;
    EXPECT_EQ(run.err.rfind("error: INVALID_ARGUMENT: ", 0), 0u) << joined << "\n" << run.err;
    EXPECT_NE(run.err.find("Usage:"), std::string::npos) << joined << "\n" << run.err;
    EXPECT_EQ(run.out, "") << joined;
  }
}

TEST(Cli, BadLocalInputExits2WithoutConnecting) {
  CliRun values = RunTrainyard({"predict", "ck", "--values", "1,2;3"});
  EXPECT_EQ(values.code, 2);
  EXPECT_FALSE(values.connected);
  EXPECT_NE(values.err.find("row 2 has 1 values"), std::string::npos) << values.err;
  CliRun missing = RunTrainyard({"jobs", "submit", "--dataset", "d", "--model", "/nonexistent/m.json",
                        "--training", "/nonexistent/t.json"});
  EXPECT_EQ(missing.code, 2);
  EXPECT_FALSE(missing.connected);
  EXPECT_EQ(missing.err, "error: NOT_FOUND: --model: cannot read '/nonexistent/m.json'\n");
}

TEST(Cli, HelpExits0AndListsExitCodes) {
  CliRun run = RunTrainyard({"--help"});
  EXPECT_EQ(run.code, 0);
  EXPECT_NE(run.out.find("Exit codes:"), std::string::npos) << run.out;
  CliRun sub = RunTrainyard({"jobs", "submit", "--help"});
  EXPECT_EQ(sub.code, 0);
  EXPECT_NE(sub.out.find("--validate-only"), std::string::npos) << sub.out;
}

TEST(Cli, GlobalFlagsAfterTheCommandAndClientErrorsExit4) {
  CliRun run = RunTrainyard({"jobs", "list", "--output", "json", "--state", "running", "--state",
                    "queued"});
  EXPECT_TRUE(run.connected);
  EXPECT_EQ(run.code, 4);
  EXPECT_EQ(run.err, "error: UNAVAILABLE: test: no server\n");
  CliRun bad_state = RunTrainyard({"jobs", "list", "--state", "done"});
  EXPECT_EQ(bad_state.code, 2);
  EXPECT_FALSE(bad_state.connected);
}

TEST(Cli, RepeatedLabelColumnTakesOneValueEach) {
  // Were --label-column greedy, it would swallow FILE and parsing would fail.
  CliRun run = RunTrainyard({"datasets", "upload", "--label-column", "a", "--label-column",
                             "b", "data.csv", "--header"});
  EXPECT_TRUE(run.connected) << run.err;
  EXPECT_EQ(run.code, 4);
}

// Nobody listens on port 1: a real channel reports UNAVAILABLE quickly.
TEST(Cli, UnreachableServerExits4) {
  std::ostringstream out, err;
  CliContext ctx;
  ctx.out = &out;
  ctx.err = &err;
  const char* argv[] = {"trainyard", "--addr", "127.0.0.1:1", "--timeout", "5", "health"};
  EXPECT_EQ(RunCli(6, argv, ctx), 4);
  EXPECT_EQ(err.str().rfind("error: UNAVAILABLE: ", 0), 0u) << err.str();
  EXPECT_EQ(out.str(), "");
}

TEST(Cli, TlsFilesAreCheckedBeforeConnecting) {
  std::ostringstream out, err;
  CliContext ctx;
  ctx.out = &out;
  ctx.err = &err;
  const char* argv[] = {"trainyard", "--tls-ca", "/nonexistent/ca.pem", "server", "info"};
  EXPECT_EQ(RunCli(5, argv, ctx), 2);
  EXPECT_EQ(err.str(), "error: NOT_FOUND: --tls-ca: cannot read '/nonexistent/ca.pem'\n");
  std::ostringstream err2;
  ctx.err = &err2;
  const char* half[] = {"trainyard", "--tls-cert", "c.pem", "server", "info"};
  EXPECT_EQ(RunCli(5, half, ctx), 2);
  EXPECT_NE(err2.str().find("--tls-cert and --tls-key go together"), std::string::npos);
}

}  // namespace
}  // namespace trainyard::client
