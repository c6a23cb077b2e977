// trainyard: the command-line client. Everything but the process wiring
// lives in trainyard_client_lib (client/cli.h).
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include "client/cli.h"

namespace {

int TerminalWidth() {
  winsize size{};
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col;
  if (const char* columns = std::getenv("COLUMNS")) {
    const int width = std::atoi(columns);
    if (width > 0) return width;
  }
  return 80;
}

}  // namespace

int main(int argc, char** argv) {
  trainyard::client::CliContext ctx;
  ctx.out = &std::cout;
  ctx.err = &std::cerr;
  ctx.stdout_is_tty = isatty(STDOUT_FILENO) == 1;
  ctx.stderr_is_tty = isatty(STDERR_FILENO) == 1;
  ctx.terminal_width = TerminalWidth();
  return trainyard::client::RunCli(argc, argv, ctx);
}
