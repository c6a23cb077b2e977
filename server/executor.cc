#include "server/executor.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace trainyard::server {

Executor::Executor(int threads, size_t max_queued, std::string limit_name)
    : max_queued_(max_queued), limit_name_(std::move(limit_name)) {
  if (threads < 1) threads = 1;
  threads_.reserve(threads);
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Loop(); });
}

Executor::~Executor() { Shutdown(); }

bool Executor::Submit(std::function<void()> task) { return TrySubmit(std::move(task)).ok(); }

absl::Status Executor::TrySubmit(std::function<void()> task) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return absl::UnavailableError("the server is shutting down");
  if (queue_.size() >= max_queued_) {
    return absl::ResourceExhaustedError(
        absl::StrCat("server busy: ", queue_.size(), " calls already wait (", limit_name_, " ",
                     max_queued_, "); retry later"));
  }
  queue_.push_back(std::move(task));
  return absl::OkStatus();
}

size_t Executor::queued() {
  absl::MutexLock lock(&mu_);
  return queue_.size();
}

void Executor::Shutdown() {
  absl::MutexLock join_lock(&join_mu_);
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

void Executor::Loop() {
  for (;;) {
    std::function<void()> task;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || !queue_.empty();
      };
      mu_.Await(absl::Condition(&ready));
      // Queued tasks still run after Shutdown began: each one finishes an RPC
      // that would otherwise never complete.
      if (queue_.empty()) return;
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    task();
  }
}

}  // namespace trainyard::server
