// SqliteMetadataStore: jobs, events and checkpoints (datasets and opening are
// in sqlite_metadata_store.cc).
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/sqlite_metadata_store_internal.h"

namespace trainyard::server {
namespace {

using store_internal::CollectRows;
using store_internal::CountRow;
using store_internal::InTransaction;
using store_internal::Micros;
using store_internal::PageKey;
using store_internal::ParsePageToken;
using store_internal::ParseRow;
using store_internal::Query;

int64_t StateMask(absl::Span<const v1::JobState> states) {
  int64_t mask = 0;
  for (v1::JobState s : states) {
    const int bit = static_cast<int>(s);
    if (bit >= 0 && bit < 63) mask |= int64_t{1} << bit;
  }
  return mask;
}

// Binds the columns shared by insert_job and update_job (same numbering).
void BindJob(Query& q, const v1::Job& job, const std::string& proto) {
  q.BindText(1, job.id())
      .BindTextOrNull(2, job.request_id())
      .Bind(3, job.state())
      .Bind(4, job.priority())
      .Bind(5, Micros(job.create_time()))
      .BindTextOrNull(6, job.dataset_id())
      .BindTextOrNull(7, job.validation_dataset_id())
      .BindBlob(8, proto)
      .BindTextOrNull(9, job.latest_checkpoint_id())
      .BindTextOrNull(10, job.init_from_checkpoint_id())
      .BindTextOrNull(11, job.resume_from_checkpoint_id());
}

bool IsTerminal(v1::JobState state) {
  return state == v1::SUCCEEDED || state == v1::FAILED || state == v1::CANCELLED;
}

}  // namespace

// ------------------------------------------------------------------ jobs

absl::Status SqliteMetadataStore::InsertJob(const v1::Job& job) {
  absl::MutexLock lock(&mu_);
  return InTransaction(stmts_->begin, stmts_->commit, stmts_->rollback,
                       [&]() { return InsertJobLocked(job); });
}

absl::Status SqliteMetadataStore::InsertJobLocked(const v1::Job& job) {
  const std::pair<const char*, const std::string*> refs[] = {
      {"dataset_id", &job.dataset_id()}, {"validation_dataset_id", &job.validation_dataset_id()}};
  for (const auto& [field, id] : refs) {
    if (id->empty()) continue;
    absl::StatusOr<int64_t> n = CountRow(stmts_->dataset_exists, *id);
    if (!n.ok()) return n.status();
    if (*n == 0) return absl::NotFoundError(absl::StrCat(field, ": no dataset ", *id));
  }
  const std::pair<const char*, const std::string*> checkpoints[] = {
      {"init_from_checkpoint_id", &job.init_from_checkpoint_id()},
      {"resume_from_checkpoint_id", &job.resume_from_checkpoint_id()}};
  for (const auto& [field, id] : checkpoints) {
    if (id->empty()) continue;
    absl::StatusOr<int64_t> n = CountRow(stmts_->count_sha_in_checkpoints, *id);
    if (!n.ok()) return n.status();
    if (*n == 0) return absl::NotFoundError(absl::StrCat(field, ": no checkpoint ", *id));
  }
  const std::string proto = job.SerializeAsString();
  Query q(stmts_->insert_job);
  BindJob(q, job, proto);
  absl::Status s = q.Run();
  if (absl::IsAlreadyExists(s)) {
    return absl::AlreadyExistsError(absl::StrCat("a job with id ", job.id(), " or request_id \"",
                                                 job.request_id(), "\" exists"));
  }
  return s;
}

absl::Status SqliteMetadataStore::UpdateJob(const v1::Job& job) {
  absl::MutexLock lock(&mu_);
  return UpdateJobLocked(job);
}

absl::Status SqliteMetadataStore::UpdateJobLocked(const v1::Job& job) {
  const std::string proto = job.SerializeAsString();
  Query q(stmts_->update_job);
  BindJob(q, job, proto);
  if (absl::Status s = q.Run(); !s.ok()) return s;
  if (q.changes() == 0) return absl::NotFoundError(absl::StrCat("no job ", job.id()));
  return absl::OkStatus();
}

absl::StatusOr<v1::Job> SqliteMetadataStore::GetJob(std::string_view id) {
  absl::MutexLock lock(&mu_);
  Query q(stmts_->get_job);
  q.BindText(1, id);
  absl::StatusOr<bool> row = q.Step();
  if (!row.ok()) return row.status();
  if (!*row) return absl::NotFoundError(absl::StrCat("no job ", std::string(id)));
  return ParseRow<v1::Job>(q.Blob(0), "job");
}

absl::StatusOr<std::optional<v1::Job>> SqliteMetadataStore::FindJobByRequestId(
    std::string_view request_id) {
  if (request_id.empty()) return std::optional<v1::Job>();
  absl::MutexLock lock(&mu_);
  Query q(stmts_->job_by_request_id);
  q.BindText(1, request_id);
  absl::StatusOr<bool> row = q.Step();
  if (!row.ok()) return row.status();
  if (!*row) return std::optional<v1::Job>();
  absl::StatusOr<v1::Job> job = ParseRow<v1::Job>(q.Blob(0), "job");
  if (!job.ok()) return job.status();
  return std::optional<v1::Job>(*std::move(job));
}

absl::StatusOr<JobPage> SqliteMetadataStore::ListJobs(const JobQuery& query) {
  absl::StatusOr<PageKey> key = ParsePageToken("j", query.page_token);
  if (!key.ok()) return key.status();
  const int limit = store_internal::ClampPageSize(query.page_size);
  absl::MutexLock lock(&mu_);
  Query q(stmts_->list_jobs);
  q.Bind(1, StateMask(query.states)).Bind(2, key->present).Bind(3, key->created_us)
      .BindText(4, key->id).Bind(5, limit + 1);
  JobPage page;
  if (absl::Status s = store_internal::CollectPage(q, limit, "j", "job", &page.jobs,
                                                    &page.next_page_token);
      !s.ok()) {
    return s;
  }
  return page;
}

absl::StatusOr<std::vector<v1::Job>> SqliteMetadataStore::JobsInStates(
    absl::Span<const v1::JobState> states) {
  absl::MutexLock lock(&mu_);
  Query q(stmts_->jobs_in_states);
  q.Bind(1, StateMask(states));
  std::vector<v1::Job> out;
  if (absl::Status s = CollectRows(q, "job", &out); !s.ok()) return s;
  return out;
}

// ---------------------------------------------------------------- events

absl::Status SqliteMetadataStore::AppendEvents(std::string_view job_id,
                                               absl::Span<const v1::JobEvent> events) {
  absl::MutexLock lock(&mu_);
  return InTransaction(stmts_->begin, stmts_->commit, stmts_->rollback,
                       [&]() {
                         return InsertEventsLocked(job_id, events);
                       });
}

absl::Status SqliteMetadataStore::InsertEventsLocked(std::string_view job_id,
                                                     absl::Span<const v1::JobEvent> events) {
  for (const v1::JobEvent& e : events) {
    if (e.job_id() != job_id) {
      return absl::InvalidArgumentError(
          absl::StrCat("event for job ", e.job_id(), " appended to job ", std::string(job_id)));
    }
  }
  for (const v1::JobEvent& e : events) {
    const std::string proto = e.SerializeAsString();
    absl::Status s =
        Query(stmts_->insert_event).BindText(1, job_id).Bind(2, e.seq()).BindBlob(3, proto).Run();
    if (absl::IsAlreadyExists(s)) {
      return absl::AlreadyExistsError(absl::StrCat(
          "job ", std::string(job_id), " already has an event with seq ", e.seq()));
    }
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<v1::JobEvent>> SqliteMetadataStore::ReadEvents(std::string_view job_id,
                                                                    int64_t after_seq,
                                                                    int limit) {
  absl::MutexLock lock(&mu_);
  Query q(stmts_->read_events);
  q.BindText(1, job_id).Bind(2, after_seq).Bind(3, limit);
  std::vector<v1::JobEvent> out;
  if (absl::Status s = CollectRows(q, "event", &out); !s.ok()) return s;
  return out;
}

absl::StatusOr<int64_t> SqliteMetadataStore::MaxEventSeq(std::string_view job_id) {
  absl::MutexLock lock(&mu_);
  return CountRow(stmts_->max_seq, job_id);
}

// ----------------------------------------------------------- checkpoints

absl::Status SqliteMetadataStore::InsertCheckpoint(const v1::CheckpointInfo& info) {
  absl::MutexLock lock(&mu_);
  return InsertCheckpointLocked(info, /*keep_existing=*/false);
}

absl::Status SqliteMetadataStore::InsertCheckpointLocked(const v1::CheckpointInfo& info,
                                                         bool keep_existing) {
  const std::string proto = info.SerializeAsString();
  absl::Status s = Query(stmts_->insert_checkpoint)
                       .BindText(1, info.id())
                       .BindText(2, info.job_id())
                       .Bind(3, info.step())
                       .Bind(4, info.epoch())
                       .Bind(5, info.size_bytes())
                       .Bind(6, Micros(info.created_at()))
                       .BindBlob(7, proto)
                       .Run();
  if (absl::IsAlreadyExists(s)) {
    if (keep_existing) return absl::OkStatus();
    return absl::AlreadyExistsError(absl::StrCat("checkpoint ", info.id(), " exists"));
  }
  return s;
}

absl::StatusOr<v1::CheckpointInfo> SqliteMetadataStore::GetCheckpoint(std::string_view id) {
  absl::MutexLock lock(&mu_);
  Query q(stmts_->get_checkpoint);
  q.BindText(1, id);
  absl::StatusOr<bool> row = q.Step();
  if (!row.ok()) return row.status();
  if (!*row) return absl::NotFoundError(absl::StrCat("no checkpoint ", std::string(id)));
  return ParseRow<v1::CheckpointInfo>(q.Blob(0), "checkpoint");
}

absl::StatusOr<std::vector<v1::CheckpointInfo>> SqliteMetadataStore::ListCheckpoints(
    std::string_view job_id) {
  absl::MutexLock lock(&mu_);
  Query q(stmts_->list_checkpoints);
  q.BindText(1, job_id);
  std::vector<v1::CheckpointInfo> out;
  if (absl::Status s = CollectRows(q, "checkpoint", &out); !s.ok()) return s;
  return out;
}

absl::StatusOr<std::optional<std::string>> SqliteMetadataStore::JobNamingLocked(
    std::string_view id) {
  Query q(stmts_->job_naming_checkpoint);
  q.BindText(1, id);
  absl::StatusOr<bool> row = q.Step();
  if (!row.ok()) return row.status();
  if (!*row) return std::optional<std::string>();
  return std::optional<std::string>(q.Text(0));
}

absl::StatusOr<bool> SqliteMetadataStore::DeleteUnnamedCheckpointLocked(std::string_view id) {
  absl::StatusOr<std::optional<std::string>> named = JobNamingLocked(id);
  if (!named.ok()) return named.status();
  if (named->has_value()) return false;
  Query q(stmts_->delete_checkpoint);
  q.BindText(1, id);
  if (absl::Status s = q.Run(); !s.ok()) return s;
  return q.changes() > 0;
}

absl::Status SqliteMetadataStore::DeleteCheckpoint(std::string_view id) {
  absl::MutexLock lock(&mu_);
  return InTransaction(stmts_->begin, stmts_->commit, stmts_->rollback, [&]() -> absl::Status {
    {
      Query q(stmts_->active_job_naming_checkpoint);
      q.BindText(1, id).Bind(2, v1::QUEUED).Bind(3, v1::RUNNING).Bind(4, v1::PAUSED);
      absl::StatusOr<bool> row = q.Step();
      if (!row.ok()) return row.status();
      if (*row) {
        return absl::FailedPreconditionError(absl::StrCat(
            "checkpoint ", std::string(id), " is the ", q.Text(2), " of job ", q.Text(0), " (",
            v1::JobState_Name(static_cast<v1::JobState>(q.Int(1))),
            "); cancel the job or wait for it to finish"));
      }
    }
    {
      Query q(stmts_->delete_checkpoint);
      q.BindText(1, id);
      if (absl::Status s = q.Run(); !s.ok()) return s;
      if (q.changes() == 0) {
        return absl::NotFoundError(absl::StrCat("no checkpoint ", std::string(id)));
      }
    }
    // Terminal jobs that pointed at it now point at their newest remaining one.
    std::vector<v1::Job> pointing;
    {
      Query q(stmts_->jobs_with_latest);
      q.BindText(1, id);
      if (absl::Status s = CollectRows(q, "job", &pointing); !s.ok()) return s;
    }
    for (v1::Job& job : pointing) {
      Query q(stmts_->newest_checkpoint_of_job);
      q.BindText(1, job.id());
      absl::StatusOr<bool> row = q.Step();
      if (!row.ok()) return row.status();
      job.set_latest_checkpoint_id(*row ? q.Text(0) : "");
      if (absl::Status s = UpdateJobLocked(job); !s.ok()) return s;
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<std::string>> SqliteMetadataStore::DeleteJob(std::string_view id) {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> deleted;
  absl::Status status =
      InTransaction(stmts_->begin, stmts_->commit, stmts_->rollback, [&]() -> absl::Status {
        {
          Query q(stmts_->get_job);
          q.BindText(1, id);
          absl::StatusOr<bool> row = q.Step();
          if (!row.ok()) return row.status();
          if (!*row) return absl::NotFoundError(absl::StrCat("no job ", std::string(id)));
          absl::StatusOr<v1::Job> job = ParseRow<v1::Job>(q.Blob(0), "job");
          if (!job.ok()) return job.status();
          if (!IsTerminal(job->state())) {
            return absl::FailedPreconditionError(absl::StrCat(
                "job ", std::string(id), " is ", v1::JobState_Name(job->state()),
                "; only SUCCEEDED, FAILED or CANCELLED jobs can be deleted (cancel it first)"));
          }
        }
        std::vector<std::string> ids;
        {
          Query q(stmts_->checkpoint_ids_of_job);
          q.BindText(1, id);
          while (true) {
            absl::StatusOr<bool> row = q.Step();
            if (!row.ok()) return row.status();
            if (!*row) break;
            ids.push_back(q.Text(0));
          }
        }
        // The job's row first, so that its own pointers no longer keep its
        // checkpoints.
        if (absl::Status s = Query(stmts_->delete_job).BindText(1, id).Run(); !s.ok()) return s;
        if (absl::Status s = Query(stmts_->delete_events).BindText(1, id).Run(); !s.ok()) {
          return s;
        }
        for (const std::string& c : ids) {
          absl::StatusOr<bool> gone = DeleteUnnamedCheckpointLocked(c);
          if (!gone.ok()) return gone.status();
          if (*gone) deleted.push_back(c);
        }
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  return deleted;
}

// ---------------------------------------------------------- transactions

absl::Status SqliteMetadataStore::Commit(const StoreWrite& write) {
  if (write.empty()) return absl::OkStatus();
  absl::MutexLock lock(&mu_);
  return InTransaction(
      stmts_->begin, stmts_->commit, stmts_->rollback,
      [&]() -> absl::Status {
        for (const v1::Job& job : write.insert_jobs) {
          if (absl::Status s = InsertJobLocked(job); !s.ok()) return s;
        }
        for (const v1::CheckpointInfo& info : write.checkpoints) {
          if (absl::Status s = InsertCheckpointLocked(info, /*keep_existing=*/true); !s.ok()) {
            return s;
          }
        }
        for (const v1::Job& job : write.update_jobs) {
          if (absl::Status s = UpdateJobLocked(job); !s.ok()) return s;
        }
        for (const v1::JobEvent& e : write.events) {
          if (absl::Status s = InsertEventsLocked(e.job_id(), {&e, 1}); !s.ok()) return s;
        }
        for (const std::string& id : write.prune_checkpoints) {
          if (absl::StatusOr<bool> s = DeleteUnnamedCheckpointLocked(id); !s.ok()) {
            return s.status();
          }
        }
        return absl::OkStatus();
      });
}

absl::StatusOr<bool> SqliteMetadataStore::IsBlobReferenced(std::string_view sha256) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<int64_t> d = CountRow(stmts_->count_sha_in_datasets, sha256);
  if (!d.ok()) return d.status();
  if (*d > 0) return true;
  absl::StatusOr<int64_t> c = CountRow(stmts_->count_sha_in_checkpoints, sha256);
  if (!c.ok()) return c.status();
  return *c > 0;
}

}  // namespace trainyard::server
