#include "client/refs.h"

#include <algorithm>
#include <optional>
#include <string_view>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/errors.h"
#include "client/output.h"
#include "core/checkpoint_rank.h"
#include "core/sha256.h"

namespace trainyard::client {
namespace {

constexpr int kMaxCandidatesShown = 10;

bool IsFullJobId(const std::string& s) {
  return absl::StartsWith(s, "job-") && IsLowerHex(std::string_view(s).substr(4), 16);
}

bool IsHexPrefix(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return !s.empty();
}

absl::Status Ambiguous(const std::string& what, const std::string& arg,
                       const std::vector<std::string>& ids) {
  std::vector<std::string> shown(ids.begin(),
                                 ids.begin() + std::min<size_t>(ids.size(), kMaxCandidatesShown));
  return UsageError(absl::StrCat(what, ": '", arg, "' is ambiguous, it matches ", ids.size(),
                                 ": ", absl::StrJoin(shown, ", "),
                                 ids.size() > shown.size() ? ", ..." : "",
                                 "; give more of the id"));
}

absl::StatusOr<Resolved> CheckpointOfJob(const std::string& job_arg, const std::string& which,
                                         const std::string& what, const RefLookups& lookups) {
  absl::StatusOr<Resolved> job_ref = ResolveJobRef(job_arg, what, lookups);
  if (!job_ref.ok()) return job_ref.status();
  absl::StatusOr<v1::Job> job = lookups.get_job(job_ref->id);
  if (!job.ok()) return job.status();
  Resolved out{"", job_ref->note};
  if (which == "latest") {
    if (job->latest_checkpoint_id().empty()) {
      return absl::NotFoundError(absl::StrCat(what, ": job ", job->id(), " has no checkpoint"));
    }
    out.id = job->latest_checkpoint_id();
    return out;
  }
  absl::StatusOr<std::vector<v1::CheckpointInfo>> list = lookups.list_checkpoints(job->id());
  if (!list.ok()) return list.status();
  const v1::RetentionMetric metric =
      BestMetric(job->training(), !job->validation_dataset_id().empty());
  std::optional<double> best;
  for (const v1::CheckpointInfo& c : *list) {  // oldest first: >= lets ties go to the newer
    if (!c.has_metrics()) continue;
    std::optional<double> score = MetricScore(c.metrics(), metric);
    if (score && (!best || *score >= *best)) {
      best = score;
      out.id = c.id();
    }
  }
  if (!best) {
    return absl::NotFoundError(absl::StrCat(what, ": no checkpoint of job ", job->id(),
                                            " has a ", v1::RetentionMetric_Name(metric),
                                            " value (none saved after a finished epoch)"));
  }
  return out;
}

}  // namespace

absl::StatusOr<Resolved> ResolveJobRef(const std::string& arg, const std::string& what,
                                       const RefLookups& lookups) {
  if (arg.empty()) return UsageError(absl::StrCat(what, ": empty job name or id"));
  if (IsFullJobId(arg)) return Resolved{arg, ""};
  absl::StatusOr<std::vector<v1::Job>> jobs = lookups.list_jobs();
  if (!jobs.ok()) return jobs.status();
  if (absl::StartsWith(arg, "job-")) {
    std::vector<std::string> matches;
    for (const v1::Job& j : *jobs) {
      if (absl::StartsWith(j.id(), arg)) matches.push_back(j.id());
    }
    if (matches.size() == 1) return Resolved{matches[0], ""};
    if (matches.size() > 1) return Ambiguous(what, arg, matches);
  }
  const v1::Job* newest = nullptr;
  int named = 0;
  for (const v1::Job& j : *jobs) {  // newest first
    if (j.name() != arg) continue;
    if (newest == nullptr) newest = &j;
    ++named;
  }
  if (newest == nullptr) {
    return absl::NotFoundError(
        absl::StrCat(what, ": no job with id prefix or name '", arg, "'"));
  }
  Resolved out{newest->id(), ""};
  if (named > 1) {
    out.note = absl::StrCat("note: ", named, " jobs are named '", arg, "'; using the newest, ",
                            newest->id(), " (created ", FormatTimestamp(newest->create_time()),
                            ")");
  }
  return out;
}

absl::StatusOr<Resolved> ResolveCheckpointRef(const std::string& arg, const std::string& what,
                                              const RefLookups& lookups) {
  if (arg.empty()) return UsageError(absl::StrCat(what, ": empty checkpoint reference"));
  if (IsLowerHex(arg, 64)) return Resolved{arg, ""};
  if (const size_t colon = arg.rfind(':'); colon != std::string::npos) {
    const std::string which = arg.substr(colon + 1);
    if (which != "latest" && which != "best") {
      return UsageError(absl::StrCat(what, ": '", arg, "': after ':' comes 'latest' or 'best'"));
    }
    return CheckpointOfJob(arg.substr(0, colon), which, what, lookups);
  }
  if (!IsHexPrefix(arg) || arg.size() > 64) {
    return UsageError(absl::StrCat(what, ": '", arg,
                                   "' is not a checkpoint id, id prefix, JOB:latest or JOB:best"));
  }
  if (static_cast<int>(arg.size()) < kMinCheckpointPrefix) {
    return UsageError(absl::StrCat(what, ": id prefix '", arg, "' is too short (at least ",
                                   kMinCheckpointPrefix, " hex characters)"));
  }
  absl::StatusOr<std::vector<v1::Job>> jobs = lookups.list_jobs();
  if (!jobs.ok()) return jobs.status();
  std::vector<std::string> owners = {""};  // the uploaded ones
  for (const v1::Job& j : *jobs) owners.push_back(j.id());
  std::vector<std::string> matches;
  for (const std::string& owner : owners) {
    absl::StatusOr<std::vector<v1::CheckpointInfo>> list = lookups.list_checkpoints(owner);
    if (!list.ok()) return list.status();
    for (const v1::CheckpointInfo& c : *list) {
      if (absl::StartsWith(c.id(), arg)) matches.push_back(c.id());
    }
  }
  if (matches.size() == 1) return Resolved{matches[0], ""};
  if (matches.size() > 1) return Ambiguous(what, arg, matches);
  return absl::NotFoundError(absl::StrCat(what, ": no checkpoint id starts with '", arg, "'"));
}

}  // namespace trainyard::client
