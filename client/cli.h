// The `trainyard` command line: global flags, the command tree (CLI11), and
// running the chosen command. main() only fills a CliContext from the real
// process (streams, isatty, terminal width) and calls RunCli; tests call it
// with string streams and a client factory of their choice.
#ifndef TRAINYARD_CLIENT_CLI_H_
#define TRAINYARD_CLIENT_CLI_H_

#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "client/client.h"
#include "google/protobuf/message.h"

namespace trainyard::client {

using ClientFactory =
    std::function<absl::StatusOr<std::unique_ptr<Client>>(const ClientOptions&)>;

struct CliContext {
  // Filled from the global flags by parsing.
  ClientOptions client_options;
  std::string output = "text";

  std::ostream* out = nullptr;  // results (stdout)
  std::ostream* err = nullptr;  // errors, notes, progress (stderr)
  bool stdout_is_tty = false;
  bool stderr_is_tty = false;
  int terminal_width = 80;
  ClientFactory client_factory = &Client::Create;

  bool json() const { return output == "json"; }
  // Created on first use, so usage errors are reported before connecting.
  absl::StatusOr<Client*> GetClient();

 private:
  std::unique_ptr<Client> client_;
};

// What the user typed for a job or a checkpoint, resolved through the
// context's client (client/refs.h); a note (a name matching several jobs)
// goes to stderr. `what` names the argument in messages.
absl::StatusOr<std::string> ResolveJobArg(CliContext& ctx, const std::string& arg,
                                          const std::string& what);
absl::StatusOr<std::string> ResolveCheckpointArg(CliContext& ctx, const std::string& arg,
                                                 const std::string& what);

// A parsed command, ready to run: the exit code on success.
using CommandFn = std::function<absl::StatusOr<int>(CliContext&)>;

// Each adds its subcommands to `app`; parsing stores the chosen command's
// function in *selected (the lambdas keep their own argument storage).
void AddDatasetCommands(CLI::App& app, CommandFn* selected);
void AddJobCommands(CLI::App& app, CommandFn* selected);
// jobs metrics | compare | plot, under the `jobs` command.
void AddJobAnalysisCommands(CLI::App* jobs, CommandFn* selected);
void AddCheckpointCommands(CLI::App& app, CommandFn* selected);
void AddOtherCommands(CLI::App& app, CommandFn* selected);  // health, server, predict, evaluate

// Parses argv (argv[0] is the program name), runs the command and returns
// the process exit code (see client/errors.h). Errors go to ctx.err as one
// line; usage errors add the command's help.
int RunCli(int argc, const char* const* argv, CliContext& ctx);

// Helpers shared by the command files.
void PrintJson(CliContext& ctx, const google::protobuf::Message& message);
// A one-line note to stderr (never stdout, so JSON output stays one document).
void Note(CliContext& ctx, const std::string& line);
// 0 for SUCCEEDED, 1 for FAILED/CANCELLED, 1 for anything else.
int ExitCodeForJobState(v1::JobState state);

// Watches `job_id` from `after_seq` with the live view (text mode) or JSON
// Lines of events (JSON mode, when `json_events`); returns the exit code for
// the job's final state.
absl::StatusOr<int> WatchAndReport(CliContext& ctx, const std::string& job_id,
                                   int64_t after_seq, bool json_events);

}  // namespace trainyard::client

#endif  // TRAINYARD_CLIENT_CLI_H_
