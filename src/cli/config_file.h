// Config files for subcommands. CLI11 reads config files for the top-level app only, so hookwire applies a
// subcommand's TOML file itself, before parsing, as extra flags: a key `body-limit = 2048` becomes
// `--body-limit 2048` unless the command line gives --body-limit or the environment sets HOOKWIRE_BODY_LIMIT.
// Precedence is therefore: flags > environment > config file > defaults.
//
// The same file may declare inbound sources, one TOML table each (the table name is the source's uid; keys
// are the fields of the API's SourceIn, in camelCase or snake_case; the generic HMAC options go in a
// sub-table):
//   [source.github]
//   verifier = "github"
//   secrets = ["It's a Secret to Everybody"]
//   destinations = ["http://10.0.0.5:8080/github"]
//   [source.partner]
//   verifier = "generic-hmac"
//   secrets = ["..."]
//   pull = true
//   [source.partner.hmac]
//   signature_header = "X-Partner-Signature"
// read_config_sources() returns them; apply_config_file() leaves them alone.
#pragma once

#include <string>
#include <vector>

#include "core/result.h"

namespace hookwire::cli {

// `args` is argv as strings. The file is named by `--config FILE` / `--config=FILE` after `subcommand`, or by
// the environment variable `config_env`. Returns args with the file's settings inserted after the subcommand.
// Errors: unreadable file, malformed TOML, sections other than [source.NAME] or arrays (settings are flat
// key = value).
Result<std::vector<std::string>> apply_config_file(std::vector<std::string> args,
                                                   const std::string& subcommand,
                                                   const std::string& config_env);

// The [source.NAME] tables of the config file at `path`, each as a SourceIn JSON object (text) with uid NAME.
// Errors name the file, the source and the key (unknown keys, values of the wrong kind).
Result<std::vector<std::string>> read_config_sources(const std::string& path);

// "body-limit" -> "HOOKWIRE_BODY_LIMIT".
std::string env_name_for(const std::string& key);

}  // namespace hookwire::cli
