// trainyard jobs submit | list | show | watch | cancel | pause | resume | rm
// (metrics, compare and plot: commands_job_analysis.cc)
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/args.h"
#include "client/cli.h"
#include "client/output.h"
#include "client/resolve.h"

namespace trainyard::client {
namespace {

std::string Progress(const v1::Job& job) {
  const v1::JobProgress& p = job.progress();
  return absl::StrFormat("%d%% (epoch %d/%d)", static_cast<int>(p.fraction() * 100),
                         p.epoch(), p.epochs());
}

ListDatasetsByName DatasetLister(Client* client) {
  return [client](const std::string& name) { return client->ListAllDatasets(name); };
}

absl::StatusOr<int> RunSubmit(CliContext& ctx, const JobSubmitArgs& args) {
  std::string model_text, training_text;
  if (!args.model_file.empty()) {
    absl::StatusOr<std::string> text = ReadLocalFile("--model", args.model_file);
    if (!text.ok()) return text.status();
    model_text = *std::move(text);
  }
  if (!args.training_file.empty()) {
    absl::StatusOr<std::string> text = ReadLocalFile("--training", args.training_file);
    if (!text.ok()) return text.status();
    training_text = *std::move(text);
  }
  // All local checks before the first RPC.
  SubmitConfigs configs;
  absl::StatusOr<v1::SubmitJobRequest> request =
      BuildSubmitRequest(args, model_text, training_text, &configs);
  if (!request.ok()) return request.status();
  absl::StatusOr<Client*> client = ctx.GetClient();
  if (!client.ok()) return client.status();

  absl::StatusOr<ResolvedDataset> dataset =
      ResolveDataset(args.dataset, "--dataset", DatasetLister(*client));
  if (!dataset.ok()) return dataset.status();
  if (!dataset->note.empty()) Note(ctx, dataset->note);
  request->set_dataset_id(dataset->id);
  if (!args.validation_dataset.empty()) {
    absl::StatusOr<ResolvedDataset> validation = ResolveDataset(
        args.validation_dataset, "--validation-dataset", DatasetLister(*client));
    if (!validation.ok()) return validation.status();
    if (!validation->note.empty()) Note(ctx, validation->note);
    request->set_validation_dataset_id(validation->id);
  }

  const std::pair<const std::string*, const char*> refs[] = {
      {&args.init_from, "--init-from"}, {&args.resume_from, "--resume-from"}};
  for (const auto& [arg, flag] : refs) {
    if (arg->empty()) continue;
    absl::StatusOr<std::string> id = ResolveCheckpointArg(ctx, *arg, flag);
    if (!id.ok()) return id.status();
    if (arg == &args.init_from) {
      request->set_init_from_checkpoint_id(*id);
    } else {
      request->set_resume_from_checkpoint_id(*id);
    }
  }

  absl::StatusOr<v1::Job> job = (*client)->SubmitJob(*request);
  if (!job.ok()) return ExplainSubmitError(job.status(), configs);
  if (args.validate_only) {
    if (ctx.json()) {
      PrintJson(ctx, *job);
    } else {
      *ctx.out << "valid\n";
      Note(ctx, absl::StrFormat("the job would train %d epochs on %s with %d threads",
                                job->progress().epochs(), job->dataset_id(),
                                job->threads()));
    }
    return 0;
  }
  if (!args.wait) {
    if (ctx.json()) {
      PrintJson(ctx, *job);
    } else {
      *ctx.out << job->id() << "\n";
      Note(ctx, absl::StrFormat("submitted %s: %s, queue position %d", job->id(),
                                JobStateName(job->state()), job->queue_position()));
    }
    return 0;
  }
  if (!ctx.json()) *ctx.out << job->id() << "\n" << std::flush;
  // JSON mode: no event stream, just the final job as the one document.
  return WatchAndReport(ctx, job->id(), /*after_seq=*/0, /*json_events=*/false);
}

absl::StatusOr<int> RunList(CliContext& ctx, const std::vector<std::string>& state_names) {
  std::vector<v1::JobState> states;
  for (const std::string& name : state_names) {
    absl::StatusOr<v1::JobState> state = ParseJobState(name);
    if (!state.ok()) return state.status();
    states.push_back(*state);
  }
  absl::StatusOr<Client*> client = ctx.GetClient();
  if (!client.ok()) return client.status();
  absl::StatusOr<v1::ListJobsResponse> list = (*client)->ListAllJobs(states);
  if (!list.ok()) return list.status();
  if (ctx.json()) {
    PrintJson(ctx, *list);
    return 0;
  }
  std::vector<std::vector<std::string>> rows = {
      {"ID", "NAME", "STATE", "PROGRESS", "VAL_ACC", "DATASET", "CREATED"}};
  for (const v1::Job& job : list->jobs()) {
    rows.push_back({job.id(), job.name().empty() ? "-" : job.name(),
                    JobStateName(job.state()), Progress(job),
                    job.has_latest_metrics() ? FormatMetric(job.latest_metrics().val_accuracy())
                                             : "-",
                    job.dataset_id(), FormatTimestamp(job.create_time())});
  }
  *ctx.out << FormatTable(rows);
  return 0;
}

void PrintJobText(CliContext& ctx, const v1::Job& job) {
  std::vector<std::vector<std::string>> rows = {
      {"id:", job.id()},
      {"name:", job.name().empty() ? "-" : job.name()},
      {"state:", JobStateName(job.state())},
      {"progress:", absl::StrFormat("%s, step %d/%d", Progress(job), job.progress().step(),
                                    job.progress().total_steps())},
      {"dataset:", job.dataset_id()},
      {"validation:", job.validation_dataset_id().empty() ? "-" : job.validation_dataset_id()},
      {"priority:", absl::StrCat(job.priority())},
      {"threads:", absl::StrCat(job.threads())},
      {"created:", FormatTimestamp(job.create_time())},
      {"started:", FormatTimestamp(job.start_time())},
      {"ended:", FormatTimestamp(job.end_time())},
      {"checkpoint:", job.latest_checkpoint_id().empty() ? "-" : job.latest_checkpoint_id()},
      {"last event:", absl::StrCat(job.last_event_seq())}};
  if (job.state() == v1::QUEUED) {
    rows.push_back({"queue position:", absl::StrCat(job.queue_position())});
  }
  if (job.has_latest_metrics()) {
    const v1::EpochSummary& m = job.latest_metrics();
    rows.push_back({"last epoch:", absl::StrFormat(
        "%d: train_loss %.4f  train_acc %s  val_loss %s  val_acc %s", m.epoch(),
        m.train_loss(), FormatMetric(m.train_accuracy()), FormatMetric(m.val_loss()),
        FormatMetric(m.val_accuracy()))});
  }
  if (job.has_error() && job.error().code() != 0) {
    rows.push_back({"error:", absl::StrCat(absl::StatusCodeToString(
                                               static_cast<absl::StatusCode>(job.error().code())),
                                           ": ", job.error().message())});
  }
  *ctx.out << FormatTable(rows);
}

using JobCall = absl::StatusOr<v1::Job> (Client::*)(const std::string&);

absl::StatusOr<int> RunJobCall(CliContext& ctx, const std::string& arg, JobCall call,
                               const char* verb) {
  absl::StatusOr<Client*> client = ctx.GetClient();
  if (!client.ok()) return client.status();
  absl::StatusOr<std::string> id = ResolveJobArg(ctx, arg, "JOB");
  if (!id.ok()) return id.status();
  absl::StatusOr<v1::Job> job = ((*client)->*call)(*id);
  if (!job.ok()) return job.status();
  if (ctx.json()) {
    PrintJson(ctx, *job);
  } else if (verb == nullptr) {
    PrintJobText(ctx, *job);
  } else {
    *ctx.out << absl::StrFormat("%s: %s requested, state now %s\n", job->id(), verb,
                                JobStateName(job->state()));
  }
  return 0;
}

// Adds "<name> ID" whose command calls `call`.
void AddIdCommand(CLI::App* parent, CommandFn* selected, const char* name,
                  const char* help, JobCall call, const char* verb) {
  auto id = std::make_shared<std::string>();
  CLI::App* sub = parent->add_subcommand(name, help);
  sub->add_option("JOB", *id, "job id, unique id prefix or name")->required();
  sub->callback([=] {
    *selected = [=](CliContext& ctx) { return RunJobCall(ctx, *id, call, verb); };
  });
}

absl::StatusOr<int> RunRemove(CliContext& ctx, const std::string& arg) {
  absl::StatusOr<Client*> client = ctx.GetClient();
  if (!client.ok()) return client.status();
  absl::StatusOr<std::string> id = ResolveJobArg(ctx, arg, "JOB");
  if (!id.ok()) return id.status();
  absl::StatusOr<v1::DeleteJobResponse> deleted = (*client)->DeleteJob(*id);
  if (!deleted.ok()) return deleted.status();
  if (ctx.json()) {
    PrintJson(ctx, *deleted);
  } else {
    *ctx.out << *id << "\n";
    Note(ctx, absl::StrFormat("deleted %s with %d checkpoints", *id,
                              deleted->deleted_checkpoint_ids_size()));
  }
  return 0;
}

}  // namespace

void AddJobCommands(CLI::App& app, CommandFn* selected) {
  CLI::App* jobs = app.add_subcommand("jobs", "submit, list, watch and control training jobs");
  jobs->require_subcommand(1);

  auto a = std::make_shared<JobSubmitArgs>();
  CLI::App* submit = jobs->add_subcommand(
      "submit", "submit a training job; prints its id (--wait: then watches it)");
  submit->add_option("--model", a->model_file, "model spec file (ModelSpec), JSON or YAML");
  submit->add_option("--training", a->training_file,
                     "training config file (TrainingConfig), JSON or YAML");
  submit->add_option("--set", a->sets,
                     "override a field before sending, PATH=VALUE (repeatable): "
                     "training.epochs=3, model.layers[0].dense.units=64; VALUE is JSON "
                     "when it parses, else a string; null removes the field")
      ->expected(1)
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  submit->add_option("--dataset", a->dataset, "training dataset, name or id")->required();
  submit->add_option("--validation-dataset", a->validation_dataset,
                     "validation dataset, name or id");
  submit->add_option("--name", a->name, "job label");
  submit->add_option("--priority", a->priority, "-100..100, higher runs first")
      ->check(CLI::Range(-100, 100));
  submit->add_option("--threads", a->threads, "thread budget (0: server default)")
      ->check(CLI::NonNegativeNumber);
  submit->add_option("--request-id", a->request_id,
                     "idempotency key: resubmitting it returns the same job");
  auto* init = submit->add_option("--init-from", a->init_from,
                                  "initialise weights from this checkpoint "
                                  "(id, id prefix, JOB:latest or JOB:best)");
  auto* resume = submit->add_option("--resume-from", a->resume_from,
                                    "continue this checkpoint's training exactly "
                                    "(id, id prefix, JOB:latest or JOB:best)");
  init->excludes(resume);
  auto* validate = submit->add_flag("--validate-only", a->validate_only,
                                    "check everything, start nothing");
  auto* wait = submit->add_flag("--wait", a->wait,
                                "watch until the job ends; exit 0 only if it SUCCEEDED");
  validate->excludes(wait);
  submit->callback([=] {
    *selected = [=](CliContext& ctx) { return RunSubmit(ctx, *a); };
  });

  auto states = std::make_shared<std::vector<std::string>>();
  CLI::App* list = jobs->add_subcommand("list", "list jobs, newest first");
  list->add_option("--state", *states,
                   "only jobs in this state (queued, running, paused, succeeded, failed, "
                   "cancelled); repeatable")
      ->expected(1)
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  list->callback([=] {
    *selected = [=](CliContext& ctx) { return RunList(ctx, *states); };
  });

  AddIdCommand(jobs, selected, "show", "show one job", &Client::GetJob, nullptr);

  auto watch_id = std::make_shared<std::string>();
  auto after_seq = std::make_shared<int64_t>(0);
  CLI::App* watch = jobs->add_subcommand(
      "watch", "follow a job until it ends (live view on a terminal, plain lines "
               "otherwise, JSON Lines of events with --output json); exit 0 only if "
               "it SUCCEEDED");
  watch->add_option("JOB", *watch_id, "job id, unique id prefix or name")->required();
  watch->add_option("--after-seq", *after_seq, "show only events after this seq")
      ->check(CLI::NonNegativeNumber);
  watch->callback([=] {
    *selected = [=](CliContext& ctx) {
      absl::StatusOr<std::string> id = ResolveJobArg(ctx, *watch_id, "JOB");
      if (!id.ok()) return absl::StatusOr<int>(id.status());
      return WatchAndReport(ctx, *id, *after_seq, /*json_events=*/true);
    };
  });

  AddIdCommand(jobs, selected, "cancel", "cancel a job", &Client::CancelJob, "cancel");
  AddIdCommand(jobs, selected, "pause", "pause a job (checkpoint, then stop)",
               &Client::PauseJob, "pause");
  AddIdCommand(jobs, selected, "resume", "put a paused job back in the queue",
               &Client::ResumeJob, "resume");

  auto rm_id = std::make_shared<std::string>();
  CLI::App* rm = jobs->add_subcommand(
      "rm", "delete a finished job with its events and the checkpoints no other job uses");
  rm->add_option("JOB", *rm_id, "job id, unique id prefix or name")->required();
  rm->callback([=] {
    *selected = [=](CliContext& ctx) { return RunRemove(ctx, *rm_id); };
  });
  AddJobAnalysisCommands(jobs, selected);
}

}  // namespace trainyard::client
