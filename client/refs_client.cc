// ResolveJobArg / ResolveCheckpointArg: client/refs.h over a live Client.
#include <string>
#include <vector>

#include "client/cli.h"
#include "client/output.h"
#include "client/refs.h"

namespace trainyard::client {
namespace {

RefLookups LookupsOf(Client* client) {
  RefLookups l;
  l.list_jobs = [client]() -> absl::StatusOr<std::vector<v1::Job>> {
    absl::StatusOr<v1::ListJobsResponse> all = client->ListAllJobs({});
    if (!all.ok()) return all.status();
    return std::vector<v1::Job>(all->jobs().begin(), all->jobs().end());
  };
  l.get_job = [client](const std::string& id) { return client->GetJob(id); };
  l.list_checkpoints =
      [client](const std::string& job_id) -> absl::StatusOr<std::vector<v1::CheckpointInfo>> {
    absl::StatusOr<v1::ListCheckpointsResponse> list = client->ListCheckpoints(job_id);
    if (!list.ok()) return list.status();
    return std::vector<v1::CheckpointInfo>(list->checkpoints().begin(),
                                           list->checkpoints().end());
  };
  return l;
}

absl::StatusOr<std::string> Finish(CliContext& ctx, absl::StatusOr<Resolved> resolved) {
  if (!resolved.ok()) return resolved.status();
  if (!resolved->note.empty()) Note(ctx, resolved->note);
  return resolved->id;
}

}  // namespace

absl::StatusOr<std::string> ResolveJobArg(CliContext& ctx, const std::string& arg,
                                          const std::string& what) {
  absl::StatusOr<Client*> client = ctx.GetClient();
  if (!client.ok()) return client.status();
  return Finish(ctx, ResolveJobRef(arg, what, LookupsOf(*client)));
}

absl::StatusOr<std::string> ResolveCheckpointArg(CliContext& ctx, const std::string& arg,
                                                 const std::string& what) {
  absl::StatusOr<Client*> client = ctx.GetClient();
  if (!client.ok()) return client.status();
  return Finish(ctx, ResolveCheckpointRef(arg, what, LookupsOf(*client)));
}

}  // namespace trainyard::client
