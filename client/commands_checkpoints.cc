// trainyard checkpoints list | download | upload | rm
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_format.h"
#include "client/cli.h"
#include "client/output.h"
#include "client/progress.h"

namespace trainyard::client {
namespace {

absl::StatusOr<int> RunList(CliContext& ctx, const std::string& job_arg) {
  absl::StatusOr<Client*> client = ctx.GetClient();
  if (!client.ok()) return client.status();
  std::string job_id;
  if (!job_arg.empty()) {
    absl::StatusOr<std::string> id = ResolveJobArg(ctx, job_arg, "JOB");
    if (!id.ok()) return id.status();
    job_id = *id;
  }
  absl::StatusOr<v1::ListCheckpointsResponse> list = (*client)->ListCheckpoints(job_id);
  if (!list.ok()) return list.status();
  if (ctx.json()) {
    PrintJson(ctx, *list);
    return 0;
  }
  std::vector<std::vector<std::string>> rows = {
      {"ID", "STEP", "EPOCH", "REASON", "SIZE", "VAL_ACC", "CREATED"}};
  for (const v1::CheckpointInfo& c : list->checkpoints()) {
    rows.push_back({c.id(), absl::StrCat(c.step()), absl::StrCat(c.epoch()),
                    v1::CheckpointReason_Name(c.reason()), FormatBytes(c.size_bytes()),
                    c.has_metrics() ? FormatMetric(c.metrics().val_accuracy()) : "-",
                    FormatTimestamp(c.created_at())});
  }
  *ctx.out << FormatTable(rows);
  return 0;
}

absl::StatusOr<int> RunDownload(CliContext& ctx, const std::string& arg,
                                std::string path) {
  absl::StatusOr<Client*> client = ctx.GetClient();
  if (!client.ok()) return client.status();
  absl::StatusOr<std::string> resolved = ResolveCheckpointArg(ctx, arg, "CKPT");
  if (!resolved.ok()) return resolved.status();
  const std::string& id = *resolved;
  if (path.empty()) path = absl::StrCat(id, ".ckpt");
  ProgressReporter progress(*ctx.err, ctx.stderr_is_tty, absl::StrCat("downloading ", path));
  absl::StatusOr<DownloadResult> result = (*client)->DownloadCheckpoint(
      id, path, [&](int64_t done, int64_t total) { progress.Update(done, total); });
  progress.Finish();
  if (!result.ok()) return result.status();
  if (result->resumed_from > 0) {
    Note(ctx, absl::StrCat("resumed at byte ", result->resumed_from));
  }
  if (ctx.json()) {
    *ctx.out << absl::StrFormat("{\"path\": \"%s\", \"sizeBytes\": \"%d\", \"sha256\": \"%s\"}\n",
                                absl::CHexEscape(path), result->size_bytes, result->sha256);
  } else {
    *ctx.out << path << "\n";
    Note(ctx, absl::StrCat("saved ", FormatBytes(result->size_bytes), ", sha256 ",
                           result->sha256, " verified"));
  }
  return 0;
}

absl::StatusOr<int> RunUpload(CliContext& ctx, const std::string& path) {
  absl::StatusOr<Client*> client = ctx.GetClient();
  if (!client.ok()) return client.status();
  ProgressReporter progress(*ctx.err, ctx.stderr_is_tty, absl::StrCat("uploading ", path));
  absl::StatusOr<v1::CheckpointInfo> info = (*client)->UploadCheckpoint(
      path, [&](int64_t done, int64_t total) { progress.Update(done, total); });
  progress.Finish();
  if (!info.ok()) return info.status();
  if (ctx.json()) {
    PrintJson(ctx, *info);
  } else {
    *ctx.out << info->id() << "\n";
    Note(ctx, absl::StrFormat("uploaded checkpoint: epoch %d, step %d, %d -> %d",
                              info->epoch(), info->step(), info->num_features(),
                              info->num_outputs()));
  }
  return 0;
}

absl::StatusOr<int> RunRemove(CliContext& ctx, const std::string& arg) {
  absl::StatusOr<Client*> client = ctx.GetClient();
  if (!client.ok()) return client.status();
  absl::StatusOr<std::string> id = ResolveCheckpointArg(ctx, arg, "CKPT");
  if (!id.ok()) return id.status();
  if (absl::Status s = (*client)->DeleteCheckpoint(*id); !s.ok()) return s;
  if (ctx.json()) {
    PrintJson(ctx, v1::DeleteCheckpointResponse());
  } else {
    *ctx.out << *id << "\n";
  }
  return 0;
}

}  // namespace

void AddCheckpointCommands(CLI::App& app, CommandFn* selected) {
  CLI::App* checkpoints =
      app.add_subcommand("checkpoints", "list, download, upload and delete checkpoints");
  checkpoints->require_subcommand(1);

  auto job_id = std::make_shared<std::string>();
  CLI::App* list = checkpoints->add_subcommand(
      "list", "list a job's checkpoints, oldest first (no JOB_ID: uploaded ones)");
  list->add_option("JOB", *job_id, "job id, unique id prefix or name");
  list->callback([=] {
    *selected = [=](CliContext& ctx) { return RunList(ctx, *job_id); };
  });

  auto id = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  CLI::App* download = checkpoints->add_subcommand(
      "download", "download a checkpoint (resumes FILE.part, verifies sha256); "
                  "prints the file name");
  download->add_option("CKPT", *id, "checkpoint id, unique id prefix, JOB:latest or JOB:best")
      ->required();
  download->add_option("-o,--output-file", *out, "file to write (default CKPT_ID.ckpt)");
  download->callback([=] {
    *selected = [=](CliContext& ctx) { return RunDownload(ctx, *id, *out); };
  });

  auto file = std::make_shared<std::string>();
  CLI::App* upload = checkpoints->add_subcommand(
      "upload", "upload a checkpoint file; prints its id");
  upload->add_option("FILE", *file, "checkpoint file")->required();
  upload->callback([=] {
    *selected = [=](CliContext& ctx) { return RunUpload(ctx, *file); };
  });

  auto rm_id = std::make_shared<std::string>();
  CLI::App* rm = checkpoints->add_subcommand(
      "rm", "delete a checkpoint (refused while an unfinished job needs it)");
  rm->add_option("CKPT", *rm_id, "checkpoint id, unique id prefix, JOB:latest or JOB:best")
      ->required();
  rm->callback([=] {
    *selected = [=](CliContext& ctx) { return RunRemove(ctx, *rm_id); };
  });
}

}  // namespace trainyard::client
