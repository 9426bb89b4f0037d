#include "cli/config_file.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <boost/json.hpp>
#include <cstdlib>
#include <fstream>
#include <map>

#include "core/names.h"
#include "inbound/source.h"

namespace hookwire::cli {

std::string env_name_for(const std::string& key) {
  std::string out = "HOOKWIRE_";
  for (char c : key) out += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

namespace {

constexpr std::string_view kSourceTable = "source";

Result<std::vector<CLI::ConfigItem>> read_items(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Error::validation("config", "cannot read config file " + path);
  try {
    return CLI::ConfigTOML().from_config(in);
  } catch (const std::exception& e) {
    return Error::validation("config", "malformed config file " + path + ": " + e.what());
  }
}

// "signature_header" / "signature-header" -> "signatureHeader".
std::string camel_case(const std::string& key) {
  std::string out;
  bool upper = false;
  for (char c : key) {
    if (c == '_' || c == '-') {
      upper = true;
      continue;
    }
    out += upper ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
    upper = false;
  }
  return out;
}

}  // namespace

Result<std::vector<std::string>> read_config_sources(const std::string& path) {
  namespace json = boost::json;
  if (path.empty()) return std::vector<std::string>{};
  auto items = read_items(path);
  if (!items) return items.take_error();
  std::map<std::string, json::object> sources;  // by table name
  std::vector<std::string> order;
  for (const auto& item : *items) {
    if (item.name == "++" || item.name == "--") continue;
    if (item.parents.empty() || item.parents.front() != kSourceTable) continue;
    auto fail = [&](const std::string& what) {
      return Error::validation("config", path + ": [" + fmt::format("{}", fmt::join(item.parents, ".")) +
                                             "] " + item.name + ": " + what);
    };
    if (item.parents.size() < 2) return fail("sources are tables named [source.NAME]");
    const std::string& name = item.parents[1];
    if (!is_utf8(name)) return fail("the source's name must be UTF-8 text");
    if (!sources.count(name)) order.push_back(name);
    json::object& src = sources[name];
    std::string field = camel_case(item.name);
    json::object* target = &src;
    if (item.parents.size() == 3) {
      field = camel_case(item.parents[2]) + "." + field;
      auto& sub = src[camel_case(item.parents[2])];
      if (!sub.is_object()) sub = json::object();
      target = &sub.as_object();
    } else if (item.parents.size() > 3) {
      return fail("too deeply nested");
    }
    auto kind = inbound::field_kind(field);
    if (!kind) return fail("unknown key (see SourceIn in the OpenAPI document)");
    const std::string leaf = field.substr(field.rfind('.') + 1);
    const auto& in = item.inputs;
    // A value that is not UTF-8 cannot become the JSON text a source is made from: refused here, by its key.
    for (const auto& v : in)
      if (!is_utf8(v)) return fail("must be UTF-8 text");
    switch (*kind) {
      case inbound::FieldKind::kString:
        if (in.size() != 1) return fail("must be one string");
        (*target)[leaf] = in.front();
        break;
      case inbound::FieldKind::kInteger: {
        if (in.size() != 1) return fail("must be an integer");
        try {
          size_t used = 0;
          const long long n = std::stoll(in.front(), &used);
          if (used != in.front().size()) return fail("must be an integer");
          (*target)[leaf] = n;
        } catch (...) {
          return fail("must be an integer");
        }
        break;
      }
      case inbound::FieldKind::kBoolean:
        if (in.size() != 1 || (in.front() != "true" && in.front() != "false"))
          return fail("must be true or false");
        (*target)[leaf] = in.front() == "true";
        break;
      case inbound::FieldKind::kStringArray: {
        json::array a;
        for (const auto& v : in)
          if (!v.empty()) a.emplace_back(v);
        (*target)[leaf] = std::move(a);
        break;
      }
    }
  }
  std::vector<std::string> out;
  for (const auto& name : order) {
    auto& src = sources[name];
    if (!src.contains("uid")) src["uid"] = name;
    out.push_back(json::serialize(src));
  }
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

  auto items = read_items(path);
  if (!items) return items.take_error();

  std::vector<std::string> extra;
  for (const auto& item : *items) {
    if (item.name == "++" || item.name == "--") continue;                         // CLI11's section markers
    if (!item.parents.empty() && item.parents.front() == kSourceTable) continue;  // read_config_sources()
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
