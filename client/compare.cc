#include "client/compare.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/errors.h"
#include "client/metrics_export.h"
#include "client/output.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "google/protobuf/reflection.h"

namespace trainyard::client {
namespace {

namespace pb = google::protobuf;

std::string ScalarText(const pb::Message& message, const pb::FieldDescriptor* field, int index) {
  const pb::Reflection* r = message.GetReflection();
  const bool repeated = field->is_repeated();
  switch (field->cpp_type()) {
    case pb::FieldDescriptor::CPPTYPE_INT32:
      return absl::StrCat(repeated ? r->GetRepeatedInt32(message, field, index)
                                   : r->GetInt32(message, field));
    case pb::FieldDescriptor::CPPTYPE_INT64:
      return absl::StrCat(repeated ? r->GetRepeatedInt64(message, field, index)
                                   : r->GetInt64(message, field));
    case pb::FieldDescriptor::CPPTYPE_UINT32:
      return absl::StrCat(repeated ? r->GetRepeatedUInt32(message, field, index)
                                   : r->GetUInt32(message, field));
    case pb::FieldDescriptor::CPPTYPE_UINT64:
      return absl::StrCat(repeated ? r->GetRepeatedUInt64(message, field, index)
                                   : r->GetUInt64(message, field));
    case pb::FieldDescriptor::CPPTYPE_DOUBLE:
      return ExactNumber(repeated ? r->GetRepeatedDouble(message, field, index)
                                  : r->GetDouble(message, field));
    case pb::FieldDescriptor::CPPTYPE_FLOAT: {
      // A float's own shortest form: 0.9f, not 0.89999997615814209.
      const float v = repeated ? r->GetRepeatedFloat(message, field, index)
                               : r->GetFloat(message, field);
      if (!std::isfinite(v)) return ExactNumber(v);
      char buffer[32];
      return std::string(buffer, std::to_chars(buffer, buffer + sizeof buffer, v).ptr);
    }
    case pb::FieldDescriptor::CPPTYPE_BOOL:
      return (repeated ? r->GetRepeatedBool(message, field, index) : r->GetBool(message, field))
                 ? "true"
                 : "false";
    case pb::FieldDescriptor::CPPTYPE_ENUM:
      return (repeated ? r->GetRepeatedEnum(message, field, index) : r->GetEnum(message, field))
          ->name();
    case pb::FieldDescriptor::CPPTYPE_STRING:
      return repeated ? r->GetRepeatedString(message, field, index)
                      : r->GetString(message, field);
    case pb::FieldDescriptor::CPPTYPE_MESSAGE:
      break;
  }
  return "";
}

void Flatten(const pb::Message& message, const std::string& prefix,
             std::map<std::string, std::string>* out) {
  const pb::Reflection* r = message.GetReflection();
  const pb::Descriptor* d = message.GetDescriptor();
  for (int i = 0; i < d->oneof_decl_count(); ++i) {
    const pb::OneofDescriptor* oneof = d->oneof_decl(i);
    if (oneof->is_synthetic()) continue;  // proto3 `optional`, not a choice
    if (const pb::FieldDescriptor* chosen = r->GetOneofFieldDescriptor(message, oneof)) {
      // A list element's choice is the element itself ("layers[0]" -> dense).
      const bool only_member = d->oneof_decl_count() == 1 && d->field_count() == oneof->field_count();
      (*out)[only_member ? prefix : absl::StrCat(prefix, ".", oneof->name())] = chosen->name();
    }
  }
  std::vector<const pb::FieldDescriptor*> fields;
  r->ListFields(message, &fields);
  for (const pb::FieldDescriptor* field : fields) {
    const std::string path = absl::StrCat(prefix, ".", field->name());
    if (field->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE) {
      if (field->is_repeated()) {
        for (int k = 0; k < r->FieldSize(message, field); ++k) {
          Flatten(r->GetRepeatedMessage(message, field, k), absl::StrCat(path, "[", k, "]"), out);
        }
      } else {
        Flatten(r->GetMessage(message, field), path, out);
      }
    } else if (field->is_repeated()) {
      std::vector<std::string> items;
      for (int k = 0; k < r->FieldSize(message, field); ++k) {
        items.push_back(ScalarText(message, field, k));
      }
      (*out)[path] = absl::StrCat("[", absl::StrJoin(items, ","), "]");
    } else {
      (*out)[path] = ScalarText(message, field, 0);
    }
  }
}

double MetricOf(const v1::EpochSummary& e, const std::string& metric) {
  if (metric == "train_loss") return e.train_loss();
  if (metric == "train_accuracy") return e.train_accuracy();
  if (metric == "val_loss") return e.val_loss();
  return e.val_accuracy();
}

bool LowerIsBetter(const std::string& metric) { return metric.ends_with("_loss"); }

std::string Final(const JobRun& run, double (*get)(const v1::EpochSummary&)) {
  return run.epochs.empty() ? "-" : FormatMetric(get(run.epochs.back()));
}

std::string Upper(std::string text) {
  for (char& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return text;
}

std::string ShortMetric(const std::string& metric) {
  return metric.ends_with("_accuracy") ? metric.substr(0, metric.size() - 5) : metric;  // "_acc"
}

}  // namespace

std::vector<v1::EpochSummary> EpochHistory(const std::vector<v1::JobEvent>& events) {
  std::map<int, v1::EpochSummary> by_epoch;
  for (const v1::JobEvent& event : events) {
    if (event.has_epoch_metrics()) by_epoch[event.epoch_metrics().epoch()] = event.epoch_metrics();
  }
  std::vector<v1::EpochSummary> epochs;
  for (auto& [epoch, summary] : by_epoch) epochs.push_back(std::move(summary));
  return epochs;
}

std::map<std::string, std::string> FlattenConfig(const v1::Job& job) {
  std::map<std::string, std::string> out;
  if (job.has_model()) Flatten(job.model(), "model", &out);
  if (job.has_training()) Flatten(job.training(), "training", &out);
  out["dataset_id"] = job.dataset_id();
  out["validation_dataset_id"] = job.validation_dataset_id().empty() ? "-" : job.validation_dataset_id();
  return out;
}

bool IsRankingMetric(const std::string& name) {
  return name == "train_loss" || name == "train_accuracy" || name == "val_loss" ||
         name == "val_accuracy";
}

std::optional<BestValue> Best(const JobRun& run, const std::string& metric) {
  std::optional<BestValue> best;
  for (const v1::EpochSummary& e : run.epochs) {
    const double v = MetricOf(e, metric);
    if (v == -1 || !std::isfinite(v)) continue;
    const bool better = !best.has_value() ||
                        (LowerIsBetter(metric) ? v < best->value : v > best->value);
    if (better) best = BestValue{v, e.epoch()};
  }
  return best;
}

std::string DefaultRankingMetric(const std::vector<JobRun>& runs) {
  for (const char* metric : {"val_accuracy", "val_loss"}) {
    for (const JobRun& run : runs) {
      if (Best(run, metric).has_value()) return metric;
    }
  }
  return "train_loss";
}

absl::StatusOr<Comparison> Compare(const std::vector<JobRun>& runs, const std::string& metric) {
  if (!IsRankingMetric(metric)) {
    return UsageError(absl::StrCat("--metric: '", metric,
                                   "' is not one of train_loss, train_accuracy, val_loss, "
                                   "val_accuracy"));
  }
  Comparison comparison;
  comparison.metric = metric;
  std::vector<std::map<std::string, std::string>> configs;
  std::set<std::string> paths;
  for (const JobRun& run : runs) {
    configs.push_back(FlattenConfig(run.job));
    for (const auto& [path, value] : configs.back()) paths.insert(path);
  }
  for (const std::string& path : paths) {
    std::set<std::string> values;
    for (const auto& config : configs) {
      auto it = config.find(path);
      values.insert(it == config.end() ? "-" : it->second);
    }
    if (values.size() > 1) comparison.varied.push_back(path);
  }
  for (const JobRun& run : runs) comparison.ranked.push_back(&run);
  const bool lower = LowerIsBetter(metric);
  std::stable_sort(comparison.ranked.begin(), comparison.ranked.end(),
                   [&](const JobRun* a, const JobRun* b) {
                     const std::optional<BestValue> x = Best(*a, metric), y = Best(*b, metric);
                     if (!y.has_value()) return x.has_value();
                     if (!x.has_value()) return false;
                     return lower ? x->value < y->value : x->value > y->value;
                   });
  return comparison;
}

std::vector<std::vector<std::string>> ComparisonTable(const Comparison& comparison) {
  std::vector<std::string> header = {"JOB",      "NAME",    "STATE",
                                     "EPOCHS",   "TRAIN_LOSS", "VAL_LOSS",
                                     "VAL_ACC",  absl::StrCat("BEST_", Upper(ShortMetric(comparison.metric))),
                                     "@EPOCH"};
  for (const std::string& path : comparison.varied) header.push_back(path);
  std::vector<std::vector<std::string>> rows = {header};
  for (const JobRun* run : comparison.ranked) {
    const std::optional<BestValue> best = Best(*run, comparison.metric);
    std::vector<std::string> row = {
        run->job.id(),
        run->job.name().empty() ? "-" : run->job.name(),
        JobStateName(run->job.state()),
        absl::StrCat(run->epochs.size()),
        Final(*run, [](const v1::EpochSummary& e) { return e.train_loss(); }),
        Final(*run, [](const v1::EpochSummary& e) { return e.val_loss(); }),
        Final(*run, [](const v1::EpochSummary& e) { return e.val_accuracy(); }),
        best.has_value() ? FormatMetric(best->value) : "-",
        best.has_value() ? absl::StrCat(best->epoch) : "-"};
    const std::map<std::string, std::string> config = FlattenConfig(run->job);
    for (const std::string& path : comparison.varied) {
      auto it = config.find(path);
      row.push_back(it == config.end() ? "-" : it->second);
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

google::protobuf::Struct ComparisonJson(const Comparison& comparison) {
  pb::Struct doc;
  (*doc.mutable_fields())["metric"].set_string_value(comparison.metric);
  pb::ListValue* varied = (*doc.mutable_fields())["varied"].mutable_list_value();
  for (const std::string& path : comparison.varied) varied->add_values()->set_string_value(path);
  pb::ListValue* jobs = (*doc.mutable_fields())["jobs"].mutable_list_value();
  for (const JobRun* run : comparison.ranked) {
    pb::Struct* job = jobs->add_values()->mutable_struct_value();
    auto& f = *job->mutable_fields();
    f["job_id"].set_string_value(run->job.id());
    f["name"].set_string_value(run->job.name());
    f["state"].set_string_value(JobStateName(run->job.state()));
    f["epochs"].set_number_value(static_cast<double>(run->epochs.size()));
    pb::Struct* final_metrics = f["final"].mutable_struct_value();
    if (!run->epochs.empty()) {
      const v1::EpochSummary& last = run->epochs.back();
      for (const char* metric : {"train_loss", "train_accuracy", "val_loss", "val_accuracy"}) {
        const double v = MetricOf(last, metric);
        if (v != -1 && std::isfinite(v)) (*final_metrics->mutable_fields())[metric].set_number_value(v);
      }
    }
    if (const std::optional<BestValue> best = Best(*run, comparison.metric)) {
      pb::Struct* b = f["best"].mutable_struct_value();
      (*b->mutable_fields())["value"].set_number_value(best->value);
      (*b->mutable_fields())["epoch"].set_number_value(best->epoch);
    } else {
      f["best"].set_null_value(pb::NULL_VALUE);
    }
    pb::Struct* params = f["params"].mutable_struct_value();
    const std::map<std::string, std::string> config = FlattenConfig(run->job);
    for (const std::string& path : comparison.varied) {
      auto it = config.find(path);
      if (it != config.end()) (*params->mutable_fields())[path].set_string_value(it->second);
    }
  }
  return doc;
}

}  // namespace trainyard::client
