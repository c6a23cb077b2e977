// trainyard datasets upload | list | show | rm
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "client/args.h"
#include "client/cli.h"
#include "client/output.h"
#include "client/progress.h"

namespace trainyard::client {
namespace {

std::string DatasetFormatName(v1::DatasetFormat format) {
  return format == v1::DATASET_FORMAT_UNSPECIFIED ? "-" : v1::DatasetFormat_Name(format);
}

absl::StatusOr<int> RunUpload(CliContext& ctx, const DatasetUploadArgs& args) {
  absl::StatusOr<DatasetUpload> upload = BuildDatasetUpload(args);
  if (!upload.ok()) return upload.status();
  absl::StatusOr<Client*> client = ctx.GetClient();
  if (!client.ok()) return client.status();
  ProgressReporter progress(*ctx.err, ctx.stderr_is_tty,
                            absl::StrCat("uploading ", upload->header.name()));
  absl::StatusOr<v1::Dataset> dataset = (*client)->UploadDataset(
      upload->header, upload->files,
      [&](int64_t done, int64_t total) { progress.Update(done, total); });
  progress.Finish();
  if (!dataset.ok()) return dataset.status();
  if (ctx.json()) {
    PrintJson(ctx, *dataset);
  } else {
    *ctx.out << dataset->id() << "\n";
    Note(ctx, absl::StrFormat("uploaded '%s': %d samples, %d features, %d classes, %s",
                              dataset->name(), dataset->num_samples(),
                              dataset->num_features(), dataset->num_classes(),
                              FormatBytes(dataset->size_bytes())));
  }
  return 0;
}

absl::StatusOr<int> RunList(CliContext& ctx) {
  absl::StatusOr<Client*> client = ctx.GetClient();
  if (!client.ok()) return client.status();
  absl::StatusOr<v1::ListDatasetsResponse> list = (*client)->ListAllDatasets();
  if (!list.ok()) return list.status();
  if (ctx.json()) {
    PrintJson(ctx, *list);
    return 0;
  }
  std::vector<std::vector<std::string>> rows = {
      {"ID", "NAME", "FORMAT", "SAMPLES", "FEATURES", "TARGETS", "CLASSES", "SIZE", "CREATED"}};
  for (const v1::Dataset& d : list->datasets()) {
    rows.push_back({d.id(), d.name(), DatasetFormatName(d.format()),
                    absl::StrCat(d.num_samples()), absl::StrCat(d.num_features()),
                    absl::StrCat(d.target_dim()), absl::StrCat(d.num_classes()),
                    FormatBytes(d.size_bytes()), FormatTimestamp(d.created_at())});
  }
  *ctx.out << FormatTable(rows);
  return 0;
}

absl::StatusOr<int> RunShow(CliContext& ctx, const std::string& id) {
  absl::StatusOr<Client*> client = ctx.GetClient();
  if (!client.ok()) return client.status();
  absl::StatusOr<v1::Dataset> d = (*client)->GetDataset(id);
  if (!d.ok()) return d.status();
  if (ctx.json()) {
    PrintJson(ctx, *d);
    return 0;
  }
  std::vector<std::vector<std::string>> rows = {
      {"id:", d->id()},
      {"name:", d->name()},
      {"format:", DatasetFormatName(d->format())},
      {"samples:", absl::StrCat(d->num_samples())},
      {"features:", absl::StrCat(d->num_features())},
      {"targets:", absl::StrCat(d->target_dim())},
      {"classes:", absl::StrCat(d->num_classes())},
      {"size:", absl::StrCat(FormatBytes(d->size_bytes()), " (", d->size_bytes(), " bytes)")},
      {"sha256:", d->sha256()},
      {"created:", FormatTimestamp(d->created_at())}};
  if (d->format() == v1::CSV) {
    const v1::CsvOptions& csv = d->csv_options();
    rows.push_back({"csv:", absl::StrFormat(
        "header=%s delimiter='%s' labels=[%s] kind=%s preprocessing=%s",
        csv.has_header() ? "yes" : "no", csv.delimiter().empty() ? "," : csv.delimiter(),
        absl::StrJoin(csv.label_columns(), ","), v1::LabelKind_Name(csv.label_kind()),
        v1::Preprocessing_Name(csv.preprocessing()))});
  } else if (d->format() == v1::IDX) {
    rows.push_back({"idx:", absl::StrFormat(
        "images %d bytes, labels %d bytes, preprocessing=%s",
        d->idx_parts().images_size_bytes(), d->idx_parts().labels_size_bytes(),
        v1::Preprocessing_Name(d->idx_preprocessing()))});
  }
  *ctx.out << FormatTable(rows);
  return 0;
}

absl::StatusOr<int> RunRemove(CliContext& ctx, const std::string& id) {
  absl::StatusOr<Client*> client = ctx.GetClient();
  if (!client.ok()) return client.status();
  absl::Status status = (*client)->DeleteDataset(id);
  if (!status.ok()) return status;
  if (ctx.json()) {
    PrintJson(ctx, v1::DeleteDatasetResponse());
  } else {
    *ctx.out << "deleted " << id << "\n";
  }
  return 0;
}

}  // namespace

void AddDatasetCommands(CLI::App& app, CommandFn* selected) {
  CLI::App* datasets = app.add_subcommand("datasets", "upload, list, show and delete datasets");
  datasets->require_subcommand(1);

  auto upload_args = std::make_shared<DatasetUploadArgs>();
  CLI::App* upload = datasets->add_subcommand(
      "upload", "upload a CSV file, or IDX images + labels; prints the dataset id");
  upload->add_option("FILE", upload_args->file, "CSV file, or IDX images file")->required();
  upload->add_option("--name", upload_args->name, "dataset name (default: file name)");
  upload->add_option("--format", upload_args->format,
                     "csv or idx (default: idx when --labels is given, else csv)")
      ->check(CLI::IsMember({"csv", "idx"}, CLI::ignore_case));
  upload->add_option("--labels", upload_args->labels_file, "IDX labels file");
  upload->add_flag("--header", upload_args->header, "CSV: first line holds column names");
  upload->add_option("--delimiter", upload_args->delimiter,
                     "CSV field separator, one character or 'tab' (default ',')");
  upload->add_option("--label-column", upload_args->label_columns,
                     "CSV target column, a header name or 0-based index; repeatable "
                     "(default: the last column)")
      ->expected(1)
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  upload->add_flag("--regression", upload_args->regression,
                   "CSV: real-valued targets instead of class labels");
  upload->add_option("--preprocessing", upload_args->preprocessing,
                     "none, scale01 or standardize")
      ->check(CLI::IsMember({"none", "scale01", "standardize"}, CLI::ignore_case));
  upload->callback([selected, upload_args] {
    *selected = [upload_args](CliContext& ctx) { return RunUpload(ctx, *upload_args); };
  });

  datasets->add_subcommand("list", "list datasets, newest first")->callback([selected] {
    *selected = [](CliContext& ctx) { return RunList(ctx); };
  });

  auto show_id = std::make_shared<std::string>();
  CLI::App* show = datasets->add_subcommand("show", "show one dataset");
  show->add_option("ID", *show_id, "dataset id")->required();
  show->callback([selected, show_id] {
    *selected = [show_id](CliContext& ctx) { return RunShow(ctx, *show_id); };
  });

  auto rm_id = std::make_shared<std::string>();
  CLI::App* rm = datasets->add_subcommand("rm", "delete a dataset no queued/running job uses");
  rm->add_option("ID", *rm_id, "dataset id")->required();
  rm->callback([selected, rm_id] {
    *selected = [rm_id](CliContext& ctx) { return RunRemove(ctx, *rm_id); };
  });
}

}  // namespace trainyard::client
