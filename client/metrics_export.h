// `trainyard jobs metrics`: a job's stored step, epoch and diagnostics series
// as tidy rows — one value per row, named by (job, series, step, epoch,
// layer, metric) — so one file holds every series and any tool can pivot it
// (pandas: df.pivot_table(index="step", columns="metric", values="value")).
#ifndef TRAINYARD_CLIENT_METRICS_EXPORT_H_
#define TRAINYARD_CLIENT_METRICS_EXPORT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "trainyard/v1/service.pb.h"

namespace trainyard::client {

struct MetricRow {
  std::string job_id;
  // "step" (per optimiser step), "epoch" (per epoch) or "diagnostics".
  std::string series;
  int64_t step = 0;
  int32_t epoch = 0;
  // The layer's spec path for diagnostics ("layers[0].dense"); empty otherwise.
  std::string layer;
  // step: loss, learning_rate, grad_norm; epoch: train_loss, train_accuracy,
  // val_loss, val_accuracy, samples_per_second, epoch_seconds; diagnostics:
  // grad_norm, weight_norm, update_ratio (parameterised layers), act_mean,
  // act_std, act_zero_fraction (activations), <state>_mean|min|max (batch
  // norm's running_mean and running_var).
  std::string metric;
  double value = 0;
};

// The rows of `events` (one job's, in seq order), in event order. Values the
// API marks "not applicable" (-1 accuracy without a classification loss, -1
// validation metrics without validation data) are left out; histograms are
// not series and are left out too.
std::vector<MetricRow> MetricRows(const std::vector<v1::JobEvent>& events);

// CSV with the header job_id,series,step,epoch,layer,metric,value (RFC 4180
// quoting where a field needs it). Numbers in their shortest exact form;
// non-finite values as nan, inf, -inf (what pandas and spreadsheets read).
std::string MetricsCsvHeader();
std::string FormatMetricsCsv(const std::vector<MetricRow>& rows);
// One JSON object per row, same keys; non-finite values as the strings
// "NaN", "Infinity", "-Infinity" (protobuf's JSON mapping does the same).
std::string FormatMetricsJsonl(const std::vector<MetricRow>& rows);

// Shortest text that reads back as exactly `value` ("0.1", "1e-05", "3").
std::string ExactNumber(double value);

}  // namespace trainyard::client

#endif  // TRAINYARD_CLIENT_METRICS_EXPORT_H_
