#include "server/checkpoint_retention.h"

#include <algorithm>
#include <optional>
#include <set>
#include <utility>

#include "core/checkpoint_rank.h"

namespace trainyard::server {
namespace {

// Newer first: by step, then by creation time, then by id (for a total order).
bool Newer(const v1::CheckpointInfo& a, const v1::CheckpointInfo& b) {
  if (a.step() != b.step()) return a.step() > b.step();
  if (a.created_at().seconds() != b.created_at().seconds()) {
    return a.created_at().seconds() > b.created_at().seconds();
  }
  if (a.created_at().nanos() != b.created_at().nanos()) {
    return a.created_at().nanos() > b.created_at().nanos();
  }
  return a.id() > b.id();
}

}  // namespace

std::vector<std::string> CheckpointsToPrune(const v1::CheckpointRetention& policy,
                                            absl::Span<const v1::CheckpointInfo> checkpoints,
                                            std::string_view latest_id) {
  if (policy.keep_last() <= 0 && policy.keep_best() <= 0) return {};
  std::vector<const v1::CheckpointInfo*> by_age;
  for (const v1::CheckpointInfo& c : checkpoints) by_age.push_back(&c);
  std::sort(by_age.begin(), by_age.end(),
            [](const v1::CheckpointInfo* a, const v1::CheckpointInfo* b) { return Newer(*a, *b); });

  std::set<std::string_view, std::less<>> keep;
  keep.insert(latest_id);
  for (int i = 0; i < policy.keep_last() && i < static_cast<int>(by_age.size()); ++i) {
    keep.insert(by_age[i]->id());
  }
  if (policy.keep_best() > 0) {
    std::vector<std::pair<double, const v1::CheckpointInfo*>> scored;
    // by_age is newer first and the sort is stable: equal scores go to the newer.
    for (const v1::CheckpointInfo* c : by_age) {
      if (!c->has_metrics()) continue;
      std::optional<double> score = MetricScore(c->metrics(), policy.metric());
      if (score) scored.emplace_back(*score, c);
    }
    std::stable_sort(scored.begin(), scored.end(),
                     [](const auto& a, const auto& b) { return a.first > b.first; });
    for (int i = 0; i < policy.keep_best() && i < static_cast<int>(scored.size()); ++i) {
      keep.insert(scored[i].second->id());
    }
  }
  std::vector<std::string> prune;
  for (const v1::CheckpointInfo& c : checkpoints) {
    if (c.reason() == v1::FINAL || keep.count(c.id()) > 0) continue;
    prune.push_back(c.id());
  }
  return prune;
}

}  // namespace trainyard::server
