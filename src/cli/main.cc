// The hookwire binary: one executable, several subcommands.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "cli/client_commands.h"
#include "cli/config_file.h"
#include "cli/listen_command.h"
#include "cli/serve_command.h"
#include "cli/signing_commands.h"

int main(int argc, char** argv) {
  CLI::App app{"hookwire: send, receive and consume webhooks"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "hookwire " HOOKWIRE_VERSION);
  // `hookwire help [COMMAND]`: the same text as --help.
  std::string help_topic;
  auto* help = app.add_subcommand("help", "Show the commands, or one command's options");
  help->add_option("command", help_topic, "The command to describe");
  int exit_code = 0;
  hookwire::cli::add_serve_command(app, exit_code);
  hookwire::cli::add_listen_command(app, exit_code);
  hookwire::cli::add_signing_commands(app, exit_code);
  hookwire::cli::add_client_commands(app, *app.get_subcommand("serve"), exit_code);
  std::vector<std::string> raw(argv, argv + argc);
  auto args = hookwire::cli::apply_config_file(raw, *app.get_subcommand("serve"), "HOOKWIRE_CONFIG");
  if (!args) {
    std::fprintf(stderr, "hookwire: %s\n", args.error().detail.c_str());
    // --check-config answers 0 or 1; a start refused for its configuration exits 2 (a usage error).
    return std::find(raw.begin(), raw.end(), "--check-config") != raw.end() ? 1 : 2;
  }
  std::vector<char*> argv_with_config;
  for (auto& a : args->args) argv_with_config.push_back(a.data());
  try {
    app.parse(static_cast<int>(argv_with_config.size()), argv_with_config.data());
  } catch (const CLI::ParseError& e) {
    const bool checking = std::find(raw.begin(), raw.end(), "--check-config") != raw.end();
    // A value from the config file: its file and line in front of CLI11's message.
    const std::string message = hookwire::cli::name_config_place(e.what(), args->applied);
    if (message != e.what()) {
      std::fprintf(stderr, "hookwire: %s\n", message.c_str());
      return checking ? 1 : 2;
    }
    const int code = app.exit(e);
    return checking && code != 0 ? 1 : code;  // --check-config answers 0 or 1
  }
  if (app.got_subcommand(help)) {
    // The formatter directly: App::help() would describe the selected subcommand (help itself).
    if (help_topic.empty()) {
      std::fputs(app.get_formatter()->make_help(&app, "hookwire", CLI::AppFormatMode::Normal).c_str(),
                 stdout);
      return 0;
    }
    CLI::App* topic = nullptr;
    try {
      topic = app.get_subcommand(help_topic);
    } catch (const CLI::OptionNotFound&) {
      std::fprintf(stderr, "hookwire: no command \"%s\" (hookwire help lists them)\n", help_topic.c_str());
      return 2;
    }
    std::fputs(topic->help("hookwire").c_str(), stdout);
    return 0;
  }
  return exit_code;
}
