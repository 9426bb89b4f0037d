// The hookwire binary: one executable, several subcommands.
#include <CLI/CLI.hpp>

#include "cli/serve_command.h"
#include "cli/signing_commands.h"

int main(int argc, char** argv) {
  CLI::App app{"hookwire: send, receive and consume webhooks"};
  app.require_subcommand(1);
  int exit_code = 0;
  hookwire::cli::add_serve_command(app, exit_code);
  hookwire::cli::add_signing_commands(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return exit_code;
}
