// jobs metrics: the tidy rows of a job's events and their CSV / JSON Lines
// text, checked against hand-written expected output.
#include "client/metrics_export.h"

#include <gtest/gtest.h>

#include <limits>

namespace trainyard::client {
namespace {

v1::JobEvent Steps(const std::vector<std::tuple<int64_t, int, double>>& points) {
  v1::JobEvent e;
  e.set_job_id("job-1");
  for (const auto& [step, epoch, loss] : points) {
    v1::StepPoint* p = e.mutable_step_metrics()->add_points();
    p->set_step(step);
    p->set_epoch(epoch);
    p->set_loss(loss);
    p->set_learning_rate(0.1);
    p->set_grad_norm(2.5);
  }
  return e;
}

v1::JobEvent Epoch(int epoch, double val_loss, double val_acc) {
  v1::JobEvent e;
  e.set_job_id("job-1");
  v1::EpochSummary* m = e.mutable_epoch_metrics();
  m->set_epoch(epoch);
  m->set_step(epoch * 2);
  m->set_train_loss(0.5);
  m->set_train_accuracy(-1);  // a regression loss: not applicable
  m->set_val_loss(val_loss);
  m->set_val_accuracy(val_acc);
  m->set_samples_per_second(1000);
  m->set_epoch_seconds(0.25);
  return e;
}

TEST(MetricRows, StepAndEpochEventsGiveOneRowPerValueWithoutNotApplicable) {
  const std::vector<MetricRow> rows =
      MetricRows({Steps({{1, 1, 0.75}, {2, 1, 0.5}}), Epoch(1, 0.625, -1)});
  ASSERT_EQ(rows.size(), 6u + 4u);  // 2 points x 3 metrics; epoch: 6 minus 2 n/a
  EXPECT_EQ(FormatMetricsCsv(rows),
            "job-1,step,1,1,,loss,0.75\n"
            "job-1,step,1,1,,learning_rate,0.1\n"
            "job-1,step,1,1,,grad_norm,2.5\n"
            "job-1,step,2,1,,loss,0.5\n"
            "job-1,step,2,1,,learning_rate,0.1\n"
            "job-1,step,2,1,,grad_norm,2.5\n"
            "job-1,epoch,2,1,,train_loss,0.5\n"
            "job-1,epoch,2,1,,val_loss,0.625\n"
            "job-1,epoch,2,1,,samples_per_second,1000\n"
            "job-1,epoch,2,1,,epoch_seconds,0.25\n");
}

TEST(MetricRows, DiagnosticsGiveLayerRowsAndOtherEventsNone) {
  v1::JobEvent d;
  d.set_job_id("job-1");
  v1::DiagnosticsSnapshot* s = d.mutable_diagnostics()->add_snapshots();
  s->set_step(50);
  s->set_epoch(2);
  v1::LayerDiagnostics* dense = s->add_layers();
  dense->set_path("layers[0].dense");
  dense->mutable_parameters()->set_grad_norm(0.125);
  dense->mutable_parameters()->set_weight_norm(3);
  dense->mutable_parameters()->set_update_ratio(0.001);
  v1::LayerDiagnostics* relu = s->add_layers();
  relu->set_path("layers[1].activation");
  relu->mutable_activation()->set_mean(0.5);
  relu->mutable_activation()->set_std(1);
  relu->mutable_activation()->set_zero_fraction(0.25);
  relu->mutable_activation()->mutable_histogram()->add_counts(7);  // not a series
  v1::LayerDiagnostics* bn = s->add_layers();
  bn->set_path("layers[2].batch_norm");
  v1::StateDiagnostics* mean = bn->add_state();
  mean->set_name("running_mean");
  mean->mutable_summary()->set_mean(0.1);
  mean->mutable_summary()->set_min(-1);
  mean->mutable_summary()->set_max(2);
  v1::JobEvent state;
  state.mutable_state_change()->set_to(v1::RUNNING);
  v1::JobEvent log;
  log.mutable_log()->set_text("hello");

  EXPECT_EQ(FormatMetricsCsv(MetricRows({state, d, log})),
            "job-1,diagnostics,50,2,layers[0].dense,grad_norm,0.125\n"
            "job-1,diagnostics,50,2,layers[0].dense,weight_norm,3\n"
            "job-1,diagnostics,50,2,layers[0].dense,update_ratio,0.001\n"
            "job-1,diagnostics,50,2,layers[1].activation,act_mean,0.5\n"
            "job-1,diagnostics,50,2,layers[1].activation,act_std,1\n"
            "job-1,diagnostics,50,2,layers[1].activation,act_zero_fraction,0.25\n"
            "job-1,diagnostics,50,2,layers[2].batch_norm,running_mean_mean,0.1\n"
            "job-1,diagnostics,50,2,layers[2].batch_norm,running_mean_min,-1\n"
            "job-1,diagnostics,50,2,layers[2].batch_norm,running_mean_max,2\n");
}

TEST(MetricRows, JsonLinesAndNonFiniteValues) {
  const double inf = std::numeric_limits<double>::infinity();
  const std::vector<MetricRow> rows =
      MetricRows({Steps({{1, 1, inf}, {2, 1, std::numeric_limits<double>::quiet_NaN()}})});
  const std::string jsonl = FormatMetricsJsonl({rows[0], rows[3]});
  EXPECT_EQ(jsonl,
            "{\"job_id\":\"job-1\",\"series\":\"step\",\"step\":1,\"epoch\":1,\"layer\":\"\","
            "\"metric\":\"loss\",\"value\":\"Infinity\"}\n"
            "{\"job_id\":\"job-1\",\"series\":\"step\",\"step\":2,\"epoch\":1,\"layer\":\"\","
            "\"metric\":\"loss\",\"value\":\"NaN\"}\n");
  EXPECT_EQ(FormatMetricsCsv({rows[0]}), "job-1,step,1,1,,loss,inf\n");
  EXPECT_EQ(FormatMetricsCsv({rows[3]}), "job-1,step,2,1,,loss,nan\n");
}

TEST(MetricRows, NumbersRoundTripExactlyAndFieldsAreQuotedWhereNeeded) {
  for (double v : {0.1, 1.0 / 3.0, 1e-300, -2.5e17, 123456789.0}) {
    EXPECT_EQ(std::stod(ExactNumber(v)), v) << ExactNumber(v);
  }
  EXPECT_EQ(ExactNumber(0.1), "0.1");
  MetricRow row{"job-\"x\",y", "step", 1, 1, "a\nb", "loss", 1};
  EXPECT_EQ(FormatMetricsCsv({row}), "\"job-\"\"x\"\",y\",step,1,1,\"a\nb\",loss,1\n");
  EXPECT_EQ(FormatMetricsJsonl({row}),
            "{\"job_id\":\"job-\\\"x\\\",y\",\"series\":\"step\",\"step\":1,\"epoch\":1,"
            "\"layer\":\"a\\nb\",\"metric\":\"loss\",\"value\":1}\n");
  EXPECT_EQ(MetricsCsvHeader(), "job_id,series,step,epoch,layer,metric,value\n");
}

}  // namespace
}  // namespace trainyard::client
