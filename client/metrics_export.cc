#include "client/metrics_export.h"

#include <charconv>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace trainyard::client {
namespace {

// Rows of one event share everything but metric and value.
class RowSink {
 public:
  RowSink(std::vector<MetricRow>* rows, const v1::JobEvent& event, std::string series)
      : rows_(rows), job_id_(event.job_id()), series_(std::move(series)) {}

  void At(int64_t step, int32_t epoch, std::string layer = "") {
    step_ = step;
    epoch_ = epoch;
    layer_ = std::move(layer);
  }
  void Add(std::string metric, double value) {
    rows_->push_back({job_id_, series_, step_, epoch_, layer_, std::move(metric), value});
  }
  // The API's "not applicable" is -1.
  void AddIfApplicable(std::string metric, double value) {
    if (value != -1) Add(std::move(metric), value);
  }

 private:
  std::vector<MetricRow>* rows_;
  std::string job_id_, series_, layer_;
  int64_t step_ = 0;
  int32_t epoch_ = 0;
};

void AddDiagnostics(const v1::DiagnosticsSnapshot& snapshot, RowSink& sink) {
  for (const v1::LayerDiagnostics& layer : snapshot.layers()) {
    sink.At(snapshot.step(), snapshot.epoch(), layer.path());
    if (layer.has_parameters()) {
      sink.Add("grad_norm", layer.parameters().grad_norm());
      sink.Add("weight_norm", layer.parameters().weight_norm());
      sink.Add("update_ratio", layer.parameters().update_ratio());
    }
    if (layer.has_activation()) {
      sink.Add("act_mean", layer.activation().mean());
      sink.Add("act_std", layer.activation().std());
      sink.Add("act_zero_fraction", layer.activation().zero_fraction());
    }
    for (const v1::StateDiagnostics& state : layer.state()) {
      sink.Add(absl::StrCat(state.name(), "_mean"), state.summary().mean());
      sink.Add(absl::StrCat(state.name(), "_min"), state.summary().min());
      sink.Add(absl::StrCat(state.name(), "_max"), state.summary().max());
    }
  }
}

std::string CsvField(const std::string& text) {
  if (text.find_first_of(",\"\n\r") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  return quoted + "\"";
}

std::string JsonString(const std::string& text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          absl::StrAppendFormat(&out, "\\u%04x", c);
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

std::string JsonNumber(double value) {
  if (std::isnan(value)) return "\"NaN\"";
  if (std::isinf(value)) return value > 0 ? "\"Infinity\"" : "\"-Infinity\"";
  return ExactNumber(value);
}

}  // namespace

std::string ExactNumber(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char buffer[32];
  const std::to_chars_result result = std::to_chars(buffer, buffer + sizeof buffer, value);
  return std::string(buffer, result.ptr);
}

std::vector<MetricRow> MetricRows(const std::vector<v1::JobEvent>& events) {
  std::vector<MetricRow> rows;
  for (const v1::JobEvent& event : events) {
    switch (event.kind_case()) {
      case v1::JobEvent::kStepMetrics: {
        RowSink sink(&rows, event, "step");
        for (const v1::StepPoint& point : event.step_metrics().points()) {
          sink.At(point.step(), point.epoch());
          sink.Add("loss", point.loss());
          sink.Add("learning_rate", point.learning_rate());
          sink.Add("grad_norm", point.grad_norm());
        }
        break;
      }
      case v1::JobEvent::kEpochMetrics: {
        RowSink sink(&rows, event, "epoch");
        const v1::EpochSummary& e = event.epoch_metrics();
        sink.At(e.step(), e.epoch());
        sink.Add("train_loss", e.train_loss());
        sink.AddIfApplicable("train_accuracy", e.train_accuracy());
        sink.AddIfApplicable("val_loss", e.val_loss());
        sink.AddIfApplicable("val_accuracy", e.val_accuracy());
        sink.Add("samples_per_second", e.samples_per_second());
        sink.Add("epoch_seconds", e.epoch_seconds());
        break;
      }
      case v1::JobEvent::kDiagnostics: {
        RowSink sink(&rows, event, "diagnostics");
        for (const v1::DiagnosticsSnapshot& snapshot : event.diagnostics().snapshots()) {
          AddDiagnostics(snapshot, sink);
        }
        break;
      }
      default:
        break;
    }
  }
  return rows;
}

std::string MetricsCsvHeader() { return "job_id,series,step,epoch,layer,metric,value\n"; }

std::string FormatMetricsCsv(const std::vector<MetricRow>& rows) {
  std::string out;
  for (const MetricRow& row : rows) {
    absl::StrAppend(&out, CsvField(row.job_id), ",", row.series, ",", row.step, ",", row.epoch,
                    ",", CsvField(row.layer), ",", CsvField(row.metric), ",",
                    ExactNumber(row.value), "\n");
  }
  return out;
}

std::string FormatMetricsJsonl(const std::vector<MetricRow>& rows) {
  std::string out;
  for (const MetricRow& row : rows) {
    absl::StrAppend(&out, "{\"job_id\":", JsonString(row.job_id), ",\"series\":\"", row.series,
                    "\",\"step\":", row.step, ",\"epoch\":", row.epoch,
                    ",\"layer\":", JsonString(row.layer), ",\"metric\":", JsonString(row.metric),
                    ",\"value\":", JsonNumber(row.value), "}\n");
  }
  return out;
}

}  // namespace trainyard::client
