// The configuration file of `hookwire serve`: TOML (parsed by toml++), named by `--config FILE` or the
// environment variable HOOKWIRE_CONFIG. docs/configuration.md is the user's reference.
//
// Top-level keys are serve's flags without the dashes, in either case style (`body-limit` or `body_limit`);
// a repeatable flag takes an array; a flag that takes no value takes true or false. CLI11 reads config files
// for the top-level app only, so hookwire applies the file itself, before parsing, as extra flags: a key
// `body-limit = 2048` becomes `--body-limit 2048` unless the command line gives --body-limit or the
// environment sets HOOKWIRE_BODY_LIMIT. Precedence is therefore: flags > environment > config file >
// defaults.
//
// Tables [source.NAME] declare inbound sources, one each (NAME is the source's uid; keys are the fields of
// the API's SourceIn, in camelCase, snake_case or kebab-case; the generic HMAC options go in a sub-table):
//   [source.github]
//   verifier = "github"
//   secrets = ["${GITHUB_WEBHOOK_SECRET}"]
//   destinations = ["http://10.0.0.5:8080/github"]
//
// In every string `${NAME}` is replaced by the environment variable NAME (so secrets can stay out of the
// file; an unset variable is an error) and `$${` stands for a literal `${`.
//
// Every error names the file, the line and column, and the key: "hookwire.toml:12:1: body-limt: unknown
// setting". Nothing is applied from a file with an error.
#pragma once

#include <CLI/CLI.hpp>
#include <map>
#include <string>
#include <vector>

#include "core/result.h"

namespace hookwire::cli {

struct ConfigFile {
  // Settings as flags, in the file's key order: {"--body-limit", "2048"}, or {"--delivery-https-only"} for a
  // flag that takes no value, or several pairs for an array.
  struct Setting {
    std::string key;                // the flag's name, kebab-case, without dashes
    std::vector<std::string> args;  // what it adds to the command line
    std::string place;              // "file:line:column" of its value
  };
  std::vector<Setting> settings;
  struct Source {
    std::string uid;    // NAME of [source.NAME]
    std::string json;   // SourceIn JSON text, uid NAME unless the table sets one
    std::string place;  // "file:line:column" of the table
    // Where each field was set, by SourceIn name ("verifier", "hmac.signatureHeader"): errors found later
    // (checking the source) point at the line.
    std::map<std::string, std::string> places;
  };
  std::vector<Source> sources;
};

// Reads and checks the file at `path` against the options of `command` (the serve subcommand).
Result<ConfigFile> read_config_file(const std::string& path, const CLI::App& command);

// `args` is argv as strings. When the command is on the command line and a file is named (by `--config FILE`
// / `--config=FILE` after it, or by the environment variable `config_env`), returns args with the file's
// settings inserted after the command's name, except those the command line or the environment gives, and
// the settings it inserted (to name the file's line when parsing refuses a value).
struct AppliedConfig {
  std::vector<std::string> args;
  std::vector<ConfigFile::Setting> applied;
};
Result<AppliedConfig> apply_config_file(std::vector<std::string> args, const CLI::App& command,
                                        const std::string& config_env);

// CLI11's message about a value the config file set ("--body-limit: Value abc not in range ..."), with the
// file's place in front ("hookwire.toml:3:14: body-limit: Value abc ..."); other messages as they are.
std::string name_config_place(const std::string& message, const std::vector<ConfigFile::Setting>& applied);

// "body-limit" -> "HOOKWIRE_BODY_LIMIT".
std::string env_name_for(const std::string& key);

}  // namespace hookwire::cli
