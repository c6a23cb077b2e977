#include "server/experiment_stopping.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace trainyard::server {
namespace {

constexpr double kWorst = std::numeric_limits<double>::infinity();

// Smaller is better whatever the mode; NaN is the worst there is.
double Key(v1::ExperimentMetric::Mode mode, double value) {
  if (std::isnan(value)) return kWorst;
  return mode == v1::ExperimentMetric::MAX ? -value : value;
}

double FromKey(v1::ExperimentMetric::Mode mode, double key) {
  if (key == kWorst) return std::numeric_limits<double>::quiet_NaN();
  return mode == v1::ExperimentMetric::MAX ? -key : key;
}

std::string Num(double x) { return absl::StrFormat("%.6g", x); }

// Best-so-far per trial at each epoch, compared with the median of the other
// trials' best-so-far at the same epoch.
class MedianStoppingPolicy final : public EarlyStoppingPolicy {
 public:
  MedianStoppingPolicy(v1::ExperimentMetric metric, int grace_epochs, int min_trials)
      : metric_(std::move(metric)), grace_epochs_(grace_epochs), min_trials_(min_trials) {}

  StopDecision Report(int trial, int epoch, double value) override {
    std::map<int, double>& mine = keys_[trial];
    mine[epoch] = Key(metric_.mode(), value);
    // A re-run epoch makes the later values of the earlier run stale.
    mine.erase(mine.upper_bound(epoch), mine.end());
    if (epoch <= grace_epochs_) return {};
    const double my_best = BestUpTo(mine, epoch);
    std::vector<double> others;
    for (const auto& [other, keys] : keys_) {
      if (other == trial || keys.empty() || keys.rbegin()->first < epoch) continue;
      others.push_back(BestUpTo(keys, epoch));
    }
    if (static_cast<int>(others.size()) < min_trials_) return {};
    std::sort(others.begin(), others.end());
    const size_t n = others.size();
    const double median =
        n % 2 == 1 ? others[n / 2] : (others[n / 2 - 1] + others[n / 2]) / 2;
    if (!(my_best > median)) return {};
    return {true, absl::StrCat("early-stopped by median stopping at epoch ", epoch, ": best ",
                               metric_.name(), " so far ", Num(FromKey(metric_.mode(), my_best)),
                               " is worse than the median ",
                               Num(FromKey(metric_.mode(), median)), " of ", n,
                               " other trials' best at epoch ", epoch)};
  }

 private:
  static double BestUpTo(const std::map<int, double>& keys, int epoch) {
    double best = kWorst;
    for (auto it = keys.begin(); it != keys.end() && it->first <= epoch; ++it) {
      best = std::min(best, it->second);
    }
    return best;
  }

  const v1::ExperimentMetric metric_;
  const int grace_epochs_;
  const int min_trials_;
  std::map<int, std::map<int, double>> keys_;  // trial -> epoch -> key
};

// Stop-based asynchronous successive halving: at each rung a trial goes on
// only if it ranks in the top floor(n / eta) of the n values recorded there.
class AshaPolicy final : public EarlyStoppingPolicy {
 public:
  AshaPolicy(v1::ExperimentMetric metric, int eta, std::vector<int> rungs)
      : metric_(std::move(metric)), eta_(eta), rungs_(std::move(rungs)) {}

  StopDecision Report(int trial, int epoch, double value) override {
    if (!std::binary_search(rungs_.begin(), rungs_.end(), epoch)) return {};
    std::map<int, double>& rung = recorded_[epoch];
    const double mine = Key(metric_.mode(), value);
    rung[trial] = mine;
    const int n = static_cast<int>(rung.size());
    // Fewer than eta results: nothing to halve yet (the early arrivals at a
    // rung go on, as in ASHA, where the first trials are promoted
    // optimistically).
    if (n < eta_) return {};
    int better = 0;
    for (const auto& [other, key] : rung) {
      if (other != trial && key < mine) ++better;
    }
    const int keep = n / eta_;
    if (better < keep) return {};
    return {true, absl::StrCat("early-stopped by ASHA at epoch ", epoch, ": ", metric_.name(),
                               " ", Num(value), " ranks ", better + 1, " of ", n,
                               " trials at this rung; only the top ", keep, " (1/", eta_,
                               ") go on")};
  }

 private:
  const v1::ExperimentMetric metric_;
  const int eta_;
  const std::vector<int> rungs_;                   // ascending epochs
  std::map<int, std::map<int, double>> recorded_;  // rung epoch -> trial -> key
};

const char* const kMetricNames[] = {"train_loss", "train_accuracy", "val_loss", "val_accuracy"};

}  // namespace

absl::Status CheckExperimentMetric(const v1::ExperimentMetric& metric, const std::string& field) {
  if (std::find(std::begin(kMetricNames), std::end(kMetricNames), metric.name()) ==
      std::end(kMetricNames)) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".name: \"", metric.name(), "\" is not an epoch metric; one of ",
                     absl::StrJoin(kMetricNames, ", ")));
  }
  if (metric.mode() != v1::ExperimentMetric::MIN && metric.mode() != v1::ExperimentMetric::MAX) {
    return absl::InvalidArgumentError(absl::StrCat(field, ".mode: must be MIN or MAX"));
  }
  return absl::OkStatus();
}

std::optional<double> MetricValue(const v1::ExperimentMetric& metric,
                                  const v1::EpochSummary& summary) {
  // The summary's -1 means "none" for everything but the training loss,
  // which every epoch has.
  if (metric.name() == "train_loss") return summary.train_loss();
  double value = -1;
  if (metric.name() == "train_accuracy") value = summary.train_accuracy();
  if (metric.name() == "val_loss") value = summary.val_loss();
  if (metric.name() == "val_accuracy") value = summary.val_accuracy();
  if (value == -1) return std::nullopt;
  return value;
}

bool MetricBetter(v1::ExperimentMetric::Mode mode, double a, double b) {
  return Key(mode, a) < Key(mode, b);
}

absl::StatusOr<std::unique_ptr<EarlyStoppingPolicy>> MakeEarlyStoppingPolicy(
    const v1::ExperimentEarlyStopping& spec, const v1::ExperimentMetric& metric,
    int max_epochs, const std::string& field) {
  switch (spec.policy_case()) {
    case v1::ExperimentEarlyStopping::POLICY_NOT_SET:
      return nullptr;
    case v1::ExperimentEarlyStopping::kMedian: {
      const v1::MedianStopping& m = spec.median();
      if (m.grace_epochs() < 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            field, ".median.grace_epochs: must be >= 0, got ", m.grace_epochs()));
      }
      if (m.min_trials() < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(field, ".median.min_trials: must be >= 0, got ", m.min_trials()));
      }
      if (m.grace_epochs() >= max_epochs) {
        return absl::InvalidArgumentError(absl::StrCat(
            field, ".median.grace_epochs: ", m.grace_epochs(),
            " leaves no epoch to decide at; the trials run at most ", max_epochs, " epochs"));
      }
      return std::make_unique<MedianStoppingPolicy>(metric, m.grace_epochs(),
                                                    m.min_trials() == 0 ? 3 : m.min_trials());
    }
    case v1::ExperimentEarlyStopping::kAsha: {
      const v1::AshaStopping& a = spec.asha();
      const int eta = a.reduction_factor() == 0 ? 3 : a.reduction_factor();
      if (eta < 2) {
        return absl::InvalidArgumentError(absl::StrCat(
            field, ".asha.reduction_factor: must be >= 2, got ", a.reduction_factor()));
      }
      if (a.min_epochs() < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(field, ".asha.min_epochs: must be >= 1, got ", a.min_epochs()));
      }
      const int r_min = a.min_epochs() == 0 ? 1 : a.min_epochs();
      std::vector<int> rungs;
      for (int64_t r = r_min; r < max_epochs; r *= eta) rungs.push_back(static_cast<int>(r));
      if (rungs.empty()) {
        return absl::InvalidArgumentError(absl::StrCat(
            field, ".asha.min_epochs: ", r_min, " leaves no rung below the trials' ", max_epochs,
            " epochs"));
      }
      return std::make_unique<AshaPolicy>(metric, eta, std::move(rungs));
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(field, ": unknown policy"));
}

}  // namespace trainyard::server
