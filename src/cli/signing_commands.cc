#include "cli/signing_commands.h"

namespace hookwire::cli {

void add_signing_commands(CLI::App& app, int& exit_code) {}

}  // namespace hookwire::cli
