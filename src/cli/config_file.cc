#include "cli/config_file.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdlib>
#include <fstream>

namespace hookwire::cli {

std::string env_name_for(const std::string& key) {
  std::string out = "HOOKWIRE_";
  for (char c : key) out += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

Result<std::vector<std::string>> apply_config_file(std::vector<std::string> args,
                                                   const std::string& subcommand,
                                                   const std::string& config_env) {
  auto sub = std::find(args.begin(), args.end(), subcommand);
  if (sub == args.end()) return args;
  const size_t sub_index = static_cast<size_t>(sub - args.begin());

  std::string path;
  for (size_t i = sub_index + 1; i < args.size(); ++i) {
    if (args[i] == "--config" && i + 1 < args.size()) path = args[i + 1];
    if (args[i].rfind("--config=", 0) == 0) path = args[i].substr(9);
  }
  if (path.empty())
    if (const char* env = std::getenv(config_env.c_str())) path = env;
  if (path.empty()) return args;

  std::ifstream in(path);
  if (!in) return Error::validation("config", "cannot read config file " + path);
  std::vector<CLI::ConfigItem> items;
  try {
    items = CLI::ConfigTOML().from_config(in);
  } catch (const std::exception& e) {
    return Error::validation("config", "malformed config file " + path + ": " + e.what());
  }

  std::vector<std::string> extra;
  for (const auto& item : items) {
    if (item.name == "++" || item.name == "--") continue;  // CLI11's section markers
    if (!item.parents.empty())
      return Error::validation(
          "config", path + ": settings are flat `key = value` lines; found [" + item.parents.front() + "]");
    if (item.inputs.size() != 1)
      return Error::validation("config", path + ": \"" + item.name + "\" must have exactly one value");
    const std::string flag = "--" + item.name;
    const bool on_command_line =
        std::any_of(args.begin() + sub_index + 1, args.end(),
                    [&](const std::string& a) { return a == flag || a.rfind(flag + "=", 0) == 0; });
    if (on_command_line || std::getenv(env_name_for(item.name).c_str())) continue;
    extra.push_back(flag);
    extra.push_back(item.inputs.front());
  }
  args.insert(args.begin() + sub_index + 1, extra.begin(), extra.end());
  return args;
}

}  // namespace hookwire::cli
