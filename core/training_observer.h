// What a training run reports while it runs, and a list that passes every
// report to several listeners (the job's event log, metrics, diagnostics).
#ifndef TRAINYARD_CORE_TRAINING_OBSERVER_H_
#define TRAINYARD_CORE_TRAINING_OBSERVER_H_

#include <cstdint>
#include <initializer_list>
#include <vector>

#include "trainyard/v1/checkpoint.pb.h"
#include "trainyard/v1/diagnostics.pb.h"

namespace trainyard {

// One optimiser step. (v1::StepPoint carries the same fields, but it is part
// of the service API, which the core does not depend on.)
struct StepMetrics {
  int64_t step = 0;         // global optimiser step, 1-based after the update
  int epoch = 0;            // 1-based epoch the step belongs to
  double loss = 0;          // mean loss of the mini-batch
  double learning_rate = 0; // rate used for this step
  double grad_norm = 0;     // global L2 norm before clipping
};

// Receives progress. Called on the training thread, between steps; must be
// quick. A callback may call StopToken::RequestPause/RequestCancel: the
// trainer sees the request before its next step.
class TrainingObserver {
 public:
  virtual ~TrainingObserver() = default;
  // Every TrainingConfig.log_every_steps steps.
  virtual void OnStep(const StepMetrics&) {}
  // At the end of every epoch, with the summary also kept in the history.
  virtual void OnEpoch(const v1::EpochSummary&) {}
  // A checkpoint is due (every checkpoint_every_epochs). The default ignores it.
  virtual void OnCheckpoint(const v1::Checkpoint&) {}
  // Every TrainingConfig.diagnostics.every_steps steps, only when diagnostics
  // are configured; right after that step's OnStep, if any. The snapshot is
  // reused by the next call: copy what is kept.
  virtual void OnDiagnostics(const v1::DiagnosticsSnapshot&) {}
};

// Passes every callback to each of its observers, in the order they were
// added. Does not own them: each must outlive the list's use. Not
// thread-safe; build it before training starts.
class TrainingObserverList final : public TrainingObserver {
 public:
  TrainingObserverList() = default;
  // Null entries are skipped.
  TrainingObserverList(std::initializer_list<TrainingObserver*> observers) {
    for (TrainingObserver* o : observers) Add(o);
  }

  // REQUIRES: `observer` outlives the list's use. Null is ignored.
  void Add(TrainingObserver* observer) {
    if (observer != nullptr) observers_.push_back(observer);
  }
  bool empty() const { return observers_.empty(); }

  void OnStep(const StepMetrics& m) override {
    for (TrainingObserver* o : observers_) o->OnStep(m);
  }
  void OnEpoch(const v1::EpochSummary& s) override {
    for (TrainingObserver* o : observers_) o->OnEpoch(s);
  }
  void OnCheckpoint(const v1::Checkpoint& c) override {
    for (TrainingObserver* o : observers_) o->OnCheckpoint(c);
  }
  void OnDiagnostics(const v1::DiagnosticsSnapshot& d) override {
    for (TrainingObserver* o : observers_) o->OnDiagnostics(d);
  }

 private:
  std::vector<TrainingObserver*> observers_;
};

}  // namespace trainyard

#endif  // TRAINYARD_CORE_TRAINING_OBSERVER_H_
