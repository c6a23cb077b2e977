// trainyard health | server info | predict | evaluate
#include <cstdint>
#include <memory>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "client/args.h"
#include "client/cli.h"
#include "client/errors.h"
#include "client/output.h"
#include "client/progress.h"
#include "client/resolve.h"

namespace trainyard::client {
namespace {

using grpc::health::v1::HealthCheckResponse;

absl::StatusOr<int> RunHealth(CliContext& ctx) {
  absl::StatusOr<Client*> client = ctx.GetClient();
  if (!client.ok()) return client.status();
  absl::StatusOr<HealthCheckResponse::ServingStatus> status = (*client)->CheckHealth();
  if (!status.ok()) return status.status();
  if (ctx.json()) {
    HealthCheckResponse response;
    response.set_status(*status);
    PrintJson(ctx, response);
  } else {
    *ctx.out << HealthCheckResponse::ServingStatus_Name(*status) << "\n";
  }
  return *status == HealthCheckResponse::SERVING ? kExitOk : kExitJobNotSucceeded;
}

absl::StatusOr<int> RunServerInfo(CliContext& ctx) {
  absl::StatusOr<Client*> client = ctx.GetClient();
  if (!client.ok()) return client.status();
  absl::StatusOr<v1::ServerInfo> info = (*client)->GetServerInfo();
  if (!info.ok()) return info.status();
  if (ctx.json()) {
    PrintJson(ctx, *info);
    return 0;
  }
  const v1::ServerLimits& l = info->limits();
  *ctx.out << FormatTable({
      {"address:", ctx.client_options.address},
      {"version:", info->version()},
      {"scalar type:", info->scalar_type()},
      {"workers:", absl::StrCat(info->workers())},
      {"cores:", absl::StrCat(info->cores())},
      {"default threads:", absl::StrCat(info->default_threads())},
      {"heartbeat:", absl::StrFormat("%gs", info->heartbeat_interval_seconds())},
      {"capabilities:", absl::StrJoin(info->capabilities(), ", ")},
      {"max message:", FormatBytes(l.max_message_bytes())},
      {"max dataset:", FormatBytes(l.max_dataset_bytes())},
      {"max checkpoint:", FormatBytes(l.max_checkpoint_bytes())},
      {"max params:", absl::StrCat(l.max_params())},
      {"max queued jobs:", absl::StrCat(l.max_queued_jobs())},
      {"max watchers/job:", absl::StrCat(l.max_watchers_per_job())}});
  return 0;
}

struct PredictArgs {
  std::string checkpoint_id;
  std::string input_file;
  std::string values;
  int mc_samples = 0;
  std::optional<uint64_t> seed;  // --seed, when given
};

std::string Values(const v1::Row& row) {
  return absl::StrCat("[", absl::StrJoin(row.values(), ", ", [](std::string* out, float v) {
                        absl::StrAppendFormat(out, "%.6g", v);
                      }), "]");
}

absl::StatusOr<int> RunPredict(CliContext& ctx, const PredictArgs& args) {
  if (args.input_file.empty() == args.values.empty()) {
    return UsageError("predict: give exactly one of --input FILE and --values ROWS");
  }
  absl::StatusOr<std::vector<std::vector<float>>> rows;
  if (!args.values.empty()) {
    rows = ParseValuesArg(args.values);
  } else {
    absl::StatusOr<std::string> text = ReadLocalFile("--input", args.input_file);
    if (!text.ok()) return text.status();
    rows = ParseCsvRows(*text);
  }
  if (!rows.ok()) return rows.status();
  absl::StatusOr<Client*> client = ctx.GetClient();
  if (!client.ok()) return client.status();
  absl::StatusOr<std::string> checkpoint_id =
      ResolveCheckpointArg(ctx, args.checkpoint_id, "CKPT");
  if (!checkpoint_id.ok()) return checkpoint_id.status();
  absl::StatusOr<v1::PredictResponse> response =
      (*client)->Predict(MakePredictRequest(*checkpoint_id, *rows, args.mc_samples, args.seed));
  if (!response.ok()) return response.status();
  if (ctx.json()) {
    PrintJson(ctx, *response);
    return 0;
  }
  for (int i = 0; i < response->outputs_size(); ++i) {
    std::string line = absl::StrCat(i, ":");
    if (i < response->predicted_class_size()) {
      absl::StrAppend(&line, " class ", response->predicted_class(i));
    }
    if (i < response->probabilities_size()) {
      absl::StrAppend(&line, "  probabilities ", Values(response->probabilities(i)));
    }
    absl::StrAppend(&line, "  outputs ", Values(response->outputs(i)));
    if (i < response->stddev_size()) {
      absl::StrAppend(&line, "  stddev ", Values(response->stddev(i)));
    }
    *ctx.out << line << "\n";
  }
  return 0;
}

absl::StatusOr<int> RunEvaluate(CliContext& ctx, const std::string& checkpoint_arg,
                                const std::string& dataset) {
  absl::StatusOr<Client*> client = ctx.GetClient();
  if (!client.ok()) return client.status();
  absl::StatusOr<std::string> checkpoint_id = ResolveCheckpointArg(ctx, checkpoint_arg, "CKPT");
  if (!checkpoint_id.ok()) return checkpoint_id.status();
  absl::StatusOr<ResolvedDataset> resolved =
      ResolveDataset(dataset, "DATASET", [&](const std::string& name) {
        return (*client)->ListAllDatasets(name);
      });
  if (!resolved.ok()) return resolved.status();
  if (!resolved->note.empty()) Note(ctx, resolved->note);
  v1::EvaluateRequest request;
  request.set_checkpoint_id(*checkpoint_id);
  request.set_dataset_id(resolved->id);
  absl::StatusOr<v1::EvaluateResponse> r = (*client)->Evaluate(request);
  if (!r.ok()) return r.status();
  if (ctx.json()) {
    PrintJson(ctx, *r);
    return 0;
  }
  std::string line = absl::StrFormat("loss %.6g", r->loss());
  if (r->accuracy() >= 0) absl::StrAppendFormat(&line, "  accuracy %.4f", r->accuracy());
  if (r->mse() >= 0) absl::StrAppendFormat(&line, "  mse %.6g", r->mse());
  if (r->mae() >= 0) absl::StrAppendFormat(&line, "  mae %.6g", r->mae());
  absl::StrAppendFormat(&line, "  samples %d", r->num_samples());
  *ctx.out << line << "\n";
  return 0;
}

}  // namespace

void AddOtherCommands(CLI::App& app, CommandFn* selected) {
  app.add_subcommand("health", "check grpc.health.v1; exit 0 when SERVING")
      ->callback([selected] { *selected = [](CliContext& ctx) { return RunHealth(ctx); }; });

  CLI::App* server = app.add_subcommand("server", "server information");
  server->require_subcommand(1);
  server->add_subcommand("info", "version, workers, limits, capabilities")
      ->callback([selected] {
        *selected = [](CliContext& ctx) { return RunServerInfo(ctx); };
      });

  auto p = std::make_shared<PredictArgs>();
  CLI::App* predict = app.add_subcommand("predict", "run a checkpoint's model on rows");
  predict->add_option("CKPT", p->checkpoint_id,
                      "checkpoint id, unique id prefix, JOB:latest or JOB:best")
      ->required();
  auto* input = predict->add_option("--input", p->input_file,
                                    "CSV file of rows (a non-numeric first line is a header)");
  auto* values = predict->add_option("--values", p->values,
                                     "rows inline: values by ',', rows by ';' (\"1,2;3,4\")");
  input->excludes(values);
  predict->add_option("--mc-samples", p->mc_samples,
                      "Monte-Carlo dropout passes (0: deterministic); adds stddev")
      ->check(CLI::Range(0, 1000));
  auto seed = std::make_shared<uint64_t>(0);
  CLI::Option* seed_opt = predict->add_option(
      "--seed", *seed,
      "seed of the Monte-Carlo passes (default 0); a row's result depends only on it "
      "and the row");
  predict->callback([=] {
    if (seed_opt->count() > 0) p->seed = *seed;
    *selected = [=](CliContext& ctx) { return RunPredict(ctx, *p); };
  });

  auto ckpt = std::make_shared<std::string>();
  auto dataset = std::make_shared<std::string>();
  CLI::App* evaluate = app.add_subcommand(
      "evaluate", "loss and metrics of a checkpoint's model on a stored dataset");
  evaluate->add_option("CKPT", *ckpt, "checkpoint id, unique id prefix, JOB:latest or JOB:best")
      ->required();
  evaluate->add_option("DATASET", *dataset, "dataset name or id")->required();
  evaluate->callback([=] {
    *selected = [=](CliContext& ctx) { return RunEvaluate(ctx, *ckpt, *dataset); };
  });
}

}  // namespace trainyard::client
