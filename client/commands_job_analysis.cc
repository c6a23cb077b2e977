// trainyard jobs metrics | compare | plot: reading finished (or running)
// jobs' stored events back out — as data files, as a table, as a picture.
#include <fstream>
#include <memory>

#include "absl/strings/str_cat.h"
#include "client/cli.h"
#include "client/compare.h"
#include "client/errors.h"
#include "client/metrics_export.h"
#include "client/output.h"
#include "client/plot.h"

namespace trainyard::client {
namespace {

struct JobEvents {
  v1::Job job;
  std::vector<v1::JobEvent> events;
};

// GetJob then every stored event, for each job reference in order.
absl::StatusOr<std::vector<JobEvents>> FetchJobs(CliContext& ctx,
                                                 const std::vector<std::string>& ids) {
  absl::StatusOr<Client*> client = ctx.GetClient();
  if (!client.ok()) return client.status();
  std::vector<JobEvents> jobs;
  for (const std::string& arg : ids) {
    // Ids, unique prefixes and names, as everywhere a job is taken.
    absl::StatusOr<std::string> id = ResolveJobArg(ctx, arg, "JOB");
    if (!id.ok()) return id.status();
    absl::StatusOr<v1::Job> job = (*client)->GetJob(*id);
    if (!job.ok()) return job.status();
    absl::StatusOr<std::vector<v1::JobEvent>> events = (*client)->ReadEvents(*id);
    if (!events.ok()) return events.status();
    jobs.push_back({*std::move(job), *std::move(events)});
  }
  return jobs;
}

absl::Status WriteOutput(CliContext& ctx, const std::string& path, const std::string& text) {
  if (path.empty() || path == "-") {
    *ctx.out << text << std::flush;
    return absl::OkStatus();
  }
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file << text;
  file.close();
  if (!file) {
    return LocalError(absl::StatusCode::kFailedPrecondition,
                      absl::StrCat("-o: cannot write '", path, "'"));
  }
  return absl::OkStatus();
}

struct MetricsArgs {
  std::vector<std::string> ids;
  std::string format = "csv";
  std::string out;
};

absl::StatusOr<int> RunMetrics(CliContext& ctx, const MetricsArgs& args) {
  absl::StatusOr<std::vector<JobEvents>> jobs = FetchJobs(ctx, args.ids);
  if (!jobs.ok()) return jobs.status();
  std::string text = args.format == "csv" ? MetricsCsvHeader() : "";
  size_t rows = 0;
  for (const JobEvents& job : *jobs) {
    const std::vector<MetricRow> job_rows = MetricRows(job.events);
    rows += job_rows.size();
    absl::StrAppend(&text, args.format == "csv" ? FormatMetricsCsv(job_rows)
                                                : FormatMetricsJsonl(job_rows));
  }
  if (absl::Status s = WriteOutput(ctx, args.out, text); !s.ok()) return s;
  if (!args.out.empty() && args.out != "-") {
    Note(ctx, absl::StrCat("wrote ", rows, " rows of ", jobs->size(), " job(s) to ", args.out));
  }
  return 0;
}

struct CompareArgs {
  std::vector<std::string> ids;
  std::string metric;
};

absl::StatusOr<int> RunCompare(CliContext& ctx, const CompareArgs& args) {
  absl::StatusOr<std::vector<JobEvents>> jobs = FetchJobs(ctx, args.ids);
  if (!jobs.ok()) return jobs.status();
  std::vector<JobRun> runs;
  for (JobEvents& job : *jobs) {
    runs.push_back({std::move(job.job), EpochHistory(job.events)});
  }
  const std::string metric = args.metric.empty() ? DefaultRankingMetric(runs) : args.metric;
  absl::StatusOr<Comparison> comparison = Compare(runs, metric);
  if (!comparison.ok()) return comparison.status();
  if (ctx.json()) {
    PrintJson(ctx, ComparisonJson(*comparison));
    return 0;
  }
  *ctx.out << FormatTable(ComparisonTable(*comparison));
  if (comparison->varied.empty() && runs.size() > 1) {
    Note(ctx, "the jobs' model, training config and datasets are the same");
  }
  return 0;
}

struct PlotArgs {
  std::vector<std::string> ids;
  std::string out;
  double smoothing = 0.6;
  bool grad_norms = false;
};

absl::StatusOr<int> RunPlot(CliContext& ctx, const PlotArgs& args) {
  // The format first: a typo in -o is reported before any RPC.
  if (absl::StatusOr<std::string> terminal = TerminalFor(args.out); !terminal.ok()) {
    return terminal.status();
  }
  absl::StatusOr<std::vector<JobEvents>> jobs = FetchJobs(ctx, args.ids);
  if (!jobs.ok()) return jobs.status();
  std::vector<PlotJob> plot_jobs;
  for (JobEvents& job : *jobs) {
    plot_jobs.push_back({job.job.name().empty() ? job.job.id() : job.job.name(),
                         std::move(job.events)});
  }
  const std::vector<PlotPanel> panels =
      CurvePanels(plot_jobs, {.smoothing = args.smoothing, .grad_norms = args.grad_norms});
  if (args.grad_norms && (panels.empty() || panels.back().title.find("gradient") ==
                                                std::string::npos)) {
    Note(ctx, "no diagnostics in these jobs: submit with training.diagnostics to plot "
              "per-layer gradient norms");
  }
  absl::StatusOr<std::string> script = GnuplotScript(panels, args.out);
  if (!script.ok()) return LocalError(script.status().code(), script.status().message());
  if (absl::Status s = RunGnuplot(*script, args.out); !s.ok()) {
    return LocalError(s.code(), s.message());
  }
  *ctx.out << args.out << "\n";
  Note(ctx, absl::StrCat("plotted ", plot_jobs.size(), " job(s) in ", panels.size(),
                         " panel(s)"));
  return 0;
}

}  // namespace

void AddJobAnalysisCommands(CLI::App* jobs, CommandFn* selected) {
  auto m = std::make_shared<MetricsArgs>();
  CLI::App* metrics = jobs->add_subcommand(
      "metrics", "export every stored step, epoch and diagnostics value as tidy rows "
                 "(job_id,series,step,epoch,layer,metric,value)");
  metrics->add_option("JOB", m->ids, "job ids, unique id prefixes or names")->required();
  metrics->add_option("--format", m->format, "csv or jsonl")
      ->check(CLI::IsMember({"csv", "jsonl"}))
      ->capture_default_str();
  metrics->add_option("-o,--out", m->out, "write to this file (default: stdout)");
  metrics->callback([=] { *selected = [=](CliContext& ctx) { return RunMetrics(ctx, *m); }; });

  auto c = std::make_shared<CompareArgs>();
  CLI::App* compare = jobs->add_subcommand(
      "compare", "jobs side by side, best first: final and best metrics and the "
                 "hyper-parameters that differ");
  compare->add_option("JOB", c->ids, "job ids, unique id prefixes or names")->required();
  compare->add_option("--metric", c->metric,
                      "rank by the best epoch value of train_loss, train_accuracy, val_loss "
                      "or val_accuracy (default: val_accuracy, else val_loss, else "
                      "train_loss)");
  compare->callback([=] { *selected = [=](CliContext& ctx) { return RunCompare(ctx, *c); }; });

  auto p = std::make_shared<PlotArgs>();
  CLI::App* plot = jobs->add_subcommand(
      "plot", "draw the jobs' loss and accuracy curves, overlaid, into a PNG or SVG "
              "file (needs gnuplot)");
  plot->add_option("JOB", p->ids, "job ids, unique id prefixes or names")->required();
  plot->add_option("-o,--out", p->out, "picture file: .png or .svg")->required();
  plot->add_option("--smoothing", p->smoothing,
                   "EMA weight of the step loss in [0, 1) (0: raw)")
      ->check(CLI::Range(0.0, 0.999))
      ->capture_default_str();
  plot->add_flag("--grad-norms", p->grad_norms,
                 "add a panel of per-layer gradient norms (jobs with training.diagnostics)");
  plot->callback([=] { *selected = [=](CliContext& ctx) { return RunPlot(ctx, *p); }; });
}

}  // namespace trainyard::client
