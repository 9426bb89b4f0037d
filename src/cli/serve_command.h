// `hookwire serve`: run the server until SIGTERM/SIGINT.
#pragma once

#include <CLI/CLI.hpp>

namespace hookwire::cli {

void add_serve_command(CLI::App& app, int& exit_code);

}  // namespace hookwire::cli
