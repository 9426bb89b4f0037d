// The hookwire binary: one executable, several subcommands.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>
#include <vector>

#include "cli/config_file.h"
#include "cli/listen_command.h"
#include "cli/serve_command.h"
#include "cli/signing_commands.h"

int main(int argc, char** argv) {
  CLI::App app{"hookwire: send, receive and consume webhooks"};
  app.require_subcommand(1);
  int exit_code = 0;
  hookwire::cli::add_serve_command(app, exit_code);
  hookwire::cli::add_listen_command(app, exit_code);
  hookwire::cli::add_signing_commands(app, exit_code);
  auto args = hookwire::cli::apply_config_file(std::vector<std::string>(argv, argv + argc), "serve",
                                               "HOOKWIRE_CONFIG");
  if (!args) {
    std::fprintf(stderr, "hookwire: %s\n", args.error().detail.c_str());
    return 2;
  }
  std::vector<char*> argv_with_config;
  for (auto& a : *args) argv_with_config.push_back(a.data());
  try {
    app.parse(static_cast<int>(argv_with_config.size()), argv_with_config.data());
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return exit_code;
}
