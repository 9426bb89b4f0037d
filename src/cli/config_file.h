// Config files for subcommands. CLI11 reads config files for the top-level app only, so hookwire applies a
// subcommand's TOML file itself, before parsing, as extra flags: a key `body-limit = 2048` becomes
// `--body-limit 2048` unless the command line gives --body-limit or the environment sets HOOKWIRE_BODY_LIMIT.
// Precedence is therefore: flags > environment > config file > defaults.
#pragma once

#include <string>
#include <vector>

#include "core/result.h"

namespace hookwire::cli {

// `args` is argv as strings. The file is named by `--config FILE` / `--config=FILE` after `subcommand`, or by
// the environment variable `config_env`. Returns args with the file's settings inserted after the subcommand.
// Errors: unreadable file, malformed TOML, sections or arrays (settings are flat key = value).
Result<std::vector<std::string>> apply_config_file(std::vector<std::string> args,
                                                   const std::string& subcommand,
                                                   const std::string& config_env);

// "body-limit" -> "HOOKWIRE_BODY_LIMIT".
std::string env_name_for(const std::string& key);

}  // namespace hookwire::cli
