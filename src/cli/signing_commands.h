// `hookwire sign`, `hookwire verify`, `hookwire secret new`: the signing library on the command line.
#pragma once

#include <CLI/CLI.hpp>

namespace hookwire::cli {

// Adds the signing subcommands to `app`. Each subcommand's callback sets `exit_code`.
void add_signing_commands(CLI::App& app, int& exit_code);

}  // namespace hookwire::cli
