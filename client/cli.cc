#include "client/cli.h"

#include "absl/strings/str_cat.h"
#include "client/errors.h"
#include "client/output.h"
#include "client/watch_view.h"
#include "core/version.h"

namespace trainyard::client {
namespace {

constexpr const char* kFooter = R"(
Environment: TRAINYARD_ADDR, TRAINYARD_TOKEN (instead of --addr, --token).
Exit codes:
  0  success (jobs watch / submit --wait: the job SUCCEEDED; health: SERVING)
  1  the job ended FAILED or CANCELLED; health: not SERVING
  2  usage error, or unreadable / invalid local input
  3  the server answered with an error
  4  the server is unreachable
  5  local failure after the server answered (writing a file, checksum mismatch)
Errors are one line on stderr: "error: <CODE>: <message>".)";

}  // namespace

absl::StatusOr<Client*> CliContext::GetClient() {
  if (client_ == nullptr) {
    absl::StatusOr<std::unique_ptr<Client>> client = client_factory(client_options);
    if (!client.ok()) return client.status();
    client_ = *std::move(client);
  }
  return client_.get();
}

void PrintJson(CliContext& ctx, const google::protobuf::Message& message) {
  *ctx.out << ToJson(message) << std::flush;
}

void Note(CliContext& ctx, const std::string& line) { *ctx.err << line << "\n"; }

int ExitCodeForJobState(v1::JobState state) {
  return state == v1::SUCCEEDED ? kExitOk : kExitJobNotSucceeded;
}

absl::StatusOr<int> WatchAndReport(CliContext& ctx, const std::string& job_id,
                                   int64_t after_seq, bool json_events) {
  absl::StatusOr<Client*> client = ctx.GetClient();
  if (!client.ok()) return client.status();
  absl::StatusOr<v1::Job> job = (*client)->GetJob(job_id);
  if (!job.ok()) return job.status();

  std::unique_ptr<WatchView> view;
  WatchCallbacks callbacks;
  if (ctx.json()) {
    callbacks.on_event = [&](const v1::JobEvent& event) {
      if (json_events) *ctx.out << ToJsonLine(event) << "\n" << std::flush;
    };
    callbacks.on_reconnect = [&](const absl::Status& status, absl::Duration backoff) {
      Note(ctx, absl::StrCat("connection lost (", absl::StatusCodeToString(status.code()),
                             "); reconnecting in ", absl::FormatDuration(backoff)));
    };
  } else {
    view = std::make_unique<WatchView>(*ctx.out, ctx.stdout_is_tty, ctx.terminal_width);
    view->Start(*job);
    callbacks.on_event = [&](const v1::JobEvent& event) { view->OnEvent(event); };
    callbacks.on_reconnect = [&](const absl::Status& status, absl::Duration backoff) {
      view->OnReconnect(status, backoff);
    };
  }
  absl::Status status = (*client)->WatchJob(job_id, after_seq, callbacks);
  if (!status.ok()) return status;
  // The stream ended after the terminal event; the job resource is the
  // authority on how it ended (also when after_seq skipped that event).
  absl::StatusOr<v1::Job> final_job = (*client)->GetJob(job_id);
  if (!final_job.ok()) return final_job.status();
  if (view != nullptr) view->Finish(&*final_job);
  if (ctx.json() && !json_events) PrintJson(ctx, *final_job);
  return ExitCodeForJobState(final_job->state());
}

int RunCli(int argc, const char* const* argv, CliContext& ctx) {
  CLI::App app("trainyard: command-line client of the trainyard training server",
               "trainyard");
  app.footer(kFooter);
  app.set_version_flag("--version", std::string("trainyard ") + kTrainyardVersion);
  app.require_subcommand(1);
  // Global flags are accepted after the subcommand too ("jobs list --output json").
  app.fallthrough();
  ClientOptions& options = ctx.client_options;
  app.add_option("--addr", options.address, "server address host:port")
      ->envname("TRAINYARD_ADDR")
      ->capture_default_str();
  app.add_option("--token", options.token, "bearer token")->envname("TRAINYARD_TOKEN");
  app.add_option("--tls-ca", options.tls_ca_file,
                 "PEM CA bundle to verify the server (enables TLS)");
  app.add_option("--tls-cert", options.tls_cert_file,
                 "PEM client certificate (with --tls-key; enables TLS)");
  app.add_option("--tls-key", options.tls_key_file, "PEM client private key");
  app.add_option("--timeout", options.timeout_seconds,
                 "deadline of each unary call, seconds")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--output", ctx.output, "output format")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();

  CommandFn selected;
  AddDatasetCommands(app, &selected);
  AddJobCommands(app, &selected);
  AddCheckpointCommands(app, &selected);
  AddOtherCommands(app, &selected);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForVersion& e) {
    *ctx.out << e.what() << "\n" << std::flush;
    return kExitOk;
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) {  // --help
      *ctx.out << app.help() << std::flush;
      return kExitOk;
    }
    *ctx.err << FormatError(UsageError(e.what())) << "\n" << app.help() << std::flush;
    return kExitUsage;
  }
  if (!selected) {
    *ctx.err << app.help() << std::flush;
    return kExitUsage;
  }
  absl::StatusOr<int> result = selected(ctx);
  if (result.ok()) return *result;
  *ctx.err << FormatError(result.status()) << "\n";
  if (IsUsageError(result.status())) *ctx.err << app.help();
  *ctx.err << std::flush;
  return ExitCodeFor(result.status());
}

}  // namespace trainyard::client
