// A trainer's own thread budget. Each trainer (job) owns one Parallel with
// `threads` threads in all (the caller plus threads-1 workers); nothing here is
// process-global, so two trainers in one process neither share nor change each
// other's threads. Eigen itself runs single-threaded (no OpenMP): the core
// splits its matrix products by output blocks and hands the blocks to this pool.
#ifndef TRAINYARD_CORE_PARALLEL_H_
#define TRAINYARD_CORE_PARALLEL_H_

#include <cstdint>
#include <memory>

#include "absl/functional/function_ref.h"

namespace trainyard {

class Parallel {
 public:
  // REQUIRES: threads >= 1.
  explicit Parallel(int threads);
  ~Parallel();  // Joins the workers.
  Parallel(const Parallel&) = delete;
  Parallel& operator=(const Parallel&) = delete;

  int threads() const { return threads_; }

  // Splits [0, n) into at most threads() contiguous chunks, each a multiple of
  // `grain` long (except the last), runs fn(begin, end) on each and returns when
  // all are done. The split depends only on n, grain and threads(), never on
  // timing, so results are reproducible. Not reentrant: fn must not call For.
  // fn is a FunctionRef (not a std::function) so that a capturing lambda costs
  // no heap allocation per call: For runs several times per training step.
  void For(int64_t n, int64_t grain,
           absl::FunctionRef<void(int64_t begin, int64_t end)> fn);

 private:
  struct Impl;
  int threads_;
  std::unique_ptr<Impl> impl_;  // null when threads_ == 1
};

}  // namespace trainyard

#endif  // TRAINYARD_CORE_PARALLEL_H_
