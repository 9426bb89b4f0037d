#include "cli/config_file.h"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cstdlib>
#include <fstream>

#include "core/names.h"
#include "inbound/source.h"

namespace hookwire::cli {
namespace json = boost::json;

std::string env_name_for(const std::string& key) {
  std::string out = "HOOKWIRE_";
  for (char c : key) out += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

namespace {

constexpr std::string_view kSourceTable = "source";

// Errors name the file, the place and the key.
class Reader {
 public:
  explicit Reader(std::string path) : path_(std::move(path)) {}

  Error fail(const toml::source_region& at, std::string_view key, std::string_view what) const {
    if (key.empty())
      return Error::validation("config",
                               fmt::format("{}:{}:{}: {}", path_, at.begin.line, at.begin.column, what));
    return Error::validation(
        "config", fmt::format("{}:{}:{}: {}: {}", path_, at.begin.line, at.begin.column, key, what));
  }

  std::string place(const toml::source_region& at) const {
    return fmt::format("{}:{}:{}", path_, at.begin.line, at.begin.column);
  }

  // `text` with ${NAME} replaced by the environment variable NAME and $${ by ${.
  Result<std::string> expand(std::string_view text, const toml::source_region& at,
                             std::string_view key) const {
    std::string out;
    for (size_t i = 0; i < text.size();) {
      if (text.compare(i, 3, "$${") == 0) {
        out += "${";
        i += 3;
        continue;
      }
      if (text.compare(i, 2, "${") != 0) {
        out += text[i++];
        continue;
      }
      const size_t end = text.find('}', i + 2);
      const std::string_view name = end == std::string_view::npos ? "" : text.substr(i + 2, end - i - 2);
      const bool valid = !name.empty() && !std::isdigit(static_cast<unsigned char>(name.front())) &&
                         std::all_of(name.begin(), name.end(), [](char c) {
                           return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
                         });
      if (!valid)
        return fail(
            at, key,
            "`${` must start ${NAME} (an environment variable: letters, digits, _) or be written $${");
      const char* value = std::getenv(std::string(name).c_str());
      if (!value)
        return fail(at, key, fmt::format("${{{}}}: the environment variable {} is not set", name, name));
      out += value;
      i = end + 1;
    }
    return out;
  }

  // A setting's value as command-line text (no arrays or tables here).
  Result<std::string> scalar(const toml::node& v, std::string_view key) const {
    if (const auto* s = v.as_string()) return expand(s->get(), v.source(), key);
    if (const auto* i = v.as_integer()) return std::to_string(i->get());
    if (const auto* f = v.as_floating_point()) return fmt::format("{}", f->get());
    if (const auto* b = v.as_boolean()) return std::string(b->get() ? "true" : "false");
    return fail(v.source(), key, "must be a string, a number or true/false");
  }

  Result<ConfigFile::Setting> setting(const std::string& key, const toml::node& v,
                                      const CLI::App& command) const {
    if (key == "config") return fail(v.source(), key, "a config file cannot name another one");
    const CLI::Option* opt =
        key == "help" || key == "check-config" ? nullptr : command.get_option_no_throw("--" + key);
    if (!opt)
      return fail(v.source(), key,
                  fmt::format("unknown setting (`hookwire {} --help` lists them)", command.get_name()));
    ConfigFile::Setting out{key, {}, place(v.source())};
    const std::string flag = "--" + key;
    if (opt->get_expected_max() == 0) {  // a flag without a value: true sets it, false leaves it out
      const auto* b = v.as_boolean();
      if (!b) return fail(v.source(), key, "must be true or false");
      if (b->get()) out.args.push_back(flag);
      return out;
    }
    if (const auto* arr = v.as_array()) {
      if (opt->get_expected_max() <= 1) return fail(v.source(), key, "takes one value, not an array");
      for (const auto& item : *arr) {
        if (item.is_array() || item.is_table()) return fail(item.source(), key, "must be an array of values");
        auto text = scalar(item, key);
        if (!text) return text.take_error();
        out.args.push_back(flag);
        out.args.push_back(std::move(*text));
      }
      return out;
    }
    if (v.is_table()) return fail(v.source(), key, "is a setting, not a table");
    auto text = scalar(v, key);
    if (!text) return text.take_error();
    out.args = {flag, std::move(*text)};
    return out;
  }

  // One SourceIn field from its TOML value, of the kind the field takes.
  Result<json::value> source_field(const toml::node& v, const std::string& dotted,
                                   std::string_view key) const {
    auto kind = inbound::field_kind(dotted);
    if (!kind) return fail(v.source(), key, "unknown key (see SourceIn in docs/configuration.md)");
    auto text_of = [&](const toml::node& n) -> Result<std::string> {
      const auto* s = n.as_string();
      if (!s) return fail(n.source(), key, "must be a string");
      return expand(s->get(), n.source(), key);
    };
    switch (*kind) {
      case inbound::FieldKind::kString: {
        auto s = text_of(v);
        if (!s) return s.take_error();
        return json::value(*s);
      }
      case inbound::FieldKind::kInteger:
        if (const auto* i = v.as_integer()) return json::value(i->get());
        return fail(v.source(), key, "must be an integer");
      case inbound::FieldKind::kBoolean:
        if (const auto* b = v.as_boolean()) return json::value(b->get());
        return fail(v.source(), key, "must be true or false");
      case inbound::FieldKind::kStringArray: {
        const auto* arr = v.as_array();
        if (!arr) return fail(v.source(), key, "must be an array of strings");
        json::array out;
        for (const auto& item : *arr) {
          // A destination may choose its signing key: {url = "...", secret = "${KEY}"}.
          if (const auto* table = item.as_table(); table && dotted == "destinations") {
            json::object d;
            for (auto&& [dk, dv] : *table) {
              if (dk.str() != "url" && dk.str() != "secret")
                return fail(dv.source(), key, "a destination is {url = \"...\", secret = \"...\"}");
              auto s = text_of(dv);
              if (!s) return s.take_error();
              d[dk.str()] = *s;
            }
            out.emplace_back(std::move(d));
            continue;
          }
          auto s = text_of(item);
          if (!s) return s.take_error();
          out.emplace_back(*s);
        }
        return json::value(std::move(out));
      }
    }
    return fail(v.source(), key, "unknown key");
  }

  Result<ConfigFile::Source> source(const std::string& name, const toml::table& table) const {
    ConfigFile::Source out{name, {}, place(table.source()), {}};
    json::object src;
    for (auto&& [k, v] : table) {
      const std::string field = camel_case(std::string(k.str()));
      const std::string shown = fmt::format("[source.{}] {}", name, k.str());
      if (const auto* sub = v.as_table()) {  // the generic HMAC options ([source.NAME.hmac])
        json::object inner;
        for (auto&& [sk, sv] : *sub) {
          const std::string sub_field = camel_case(std::string(sk.str()));
          auto value = source_field(sv, field + "." + sub_field,
                                    fmt::format("[source.{}.{}] {}", name, k.str(), sk.str()));
          if (!value) return value.take_error();
          inner[sub_field] = std::move(*value);
          out.places[field + "." + sub_field] = place(sv.source());
        }
        if (inner.empty()) return fail(v.source(), shown, "an empty table");
        src[field] = std::move(inner);
        continue;
      }
      auto value = source_field(v, field, shown);
      if (!value) return value.take_error();
      src[field] = std::move(*value);
      out.places[field] = place(v.source());
    }
    if (!src.contains("uid")) src["uid"] = name;
    out.json = json::serialize(src);
    return out;
  }

  // "signature_header" / "signature-header" -> "signatureHeader".
  static std::string camel_case(const std::string& key) {
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

 private:
  std::string path_;
};

}  // namespace

Result<ConfigFile> read_config_file(const std::string& path, const CLI::App& command) {
  if (!std::ifstream(path))
    return Error::validation("config", fmt::format("{}: cannot read the config file", path));
  Reader reader(path);
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    return reader.fail(e.source(), "", fmt::format("not valid TOML: {}", e.description()));
  }
  ConfigFile out;
  // toml++ keeps a table's keys sorted; the settings are applied in the file's order.
  std::vector<std::pair<std::string, const toml::node*>> keys;
  for (auto&& [k, v] : root) keys.emplace_back(std::string(k.str()), &v);
  std::stable_sort(keys.begin(), keys.end(), [](const auto& a, const auto& b) {
    const auto& x = a.second->source().begin;
    const auto& y = b.second->source().begin;
    return x.line != y.line ? x.line < y.line : x.column < y.column;
  });
  std::vector<std::string> seen;
  for (const auto& [raw_key, node] : keys) {
    if (raw_key == kSourceTable) {
      const auto* sources = node->as_table();
      if (!sources) return reader.fail(node->source(), raw_key, "sources are tables named [source.NAME]");
      for (auto&& [name, table] : *sources) {
        const std::string uid(name.str());
        if (!is_utf8(uid))
          return reader.fail(name.source(), "[source]", "the source's name must be UTF-8 text");
        const auto* t = table.as_table();
        if (!t) return reader.fail(table.source(), "source." + uid, "sources are tables named [source.NAME]");
        auto src = reader.source(uid, *t);
        if (!src) return src.take_error();
        out.sources.push_back(std::move(*src));
      }
      continue;
    }
    std::string key = raw_key;
    std::replace(key.begin(), key.end(), '_', '-');
    if (std::find(seen.begin(), seen.end(), key) != seen.end())
      return reader.fail(node->source(), raw_key, "set twice (as snake_case and kebab-case)");
    seen.push_back(key);
    if (node->is_table())
      return reader.fail(node->source(), "[" + raw_key + "]",
                         "unknown table (settings are top-level keys; sources are [source.NAME])");
    auto setting = reader.setting(key, *node, command);
    if (!setting) return setting.take_error();
    out.settings.push_back(std::move(*setting));
  }
  return out;
}

Result<AppliedConfig> apply_config_file(std::vector<std::string> args, const CLI::App& command,
                                        const std::string& config_env) {
  AppliedConfig out;
  // Only when the command is the subcommand run (the first argument), not a value that spells its name.
  auto sub = args.size() > 1 && args[1] == command.get_name() ? args.begin() + 1 : args.end();
  if (sub == args.end()) {
    out.args = std::move(args);
    return out;
  }
  const size_t sub_index = static_cast<size_t>(sub - args.begin());

  std::string path;
  for (size_t i = sub_index + 1; i < args.size(); ++i) {
    if (args[i] == "--config" && i + 1 < args.size()) path = args[i + 1];
    if (args[i].rfind("--config=", 0) == 0) path = args[i].substr(9);
  }
  if (path.empty())
    if (const char* env = std::getenv(config_env.c_str())) path = env;
  if (path.empty()) {
    out.args = std::move(args);
    return out;
  }

  auto file = read_config_file(path, command);
  if (!file) return file.take_error();
  std::vector<std::string> extra;
  for (const auto& s : file->settings) {
    const std::string flag = "--" + s.key;
    const bool on_command_line =
        std::any_of(args.begin() + sub_index + 1, args.end(),
                    [&](const std::string& a) { return a == flag || a.rfind(flag + "=", 0) == 0; });
    if (on_command_line || std::getenv(env_name_for(s.key).c_str())) continue;
    extra.insert(extra.end(), s.args.begin(), s.args.end());
    out.applied.push_back(s);
  }
  args.insert(args.begin() + sub_index + 1, extra.begin(), extra.end());
  out.args = std::move(args);
  return out;
}

std::string name_config_place(const std::string& message, const std::vector<ConfigFile::Setting>& applied) {
  for (const auto& s : applied) {
    const std::string flag = "--" + s.key + ":";
    if (message.rfind(flag, 0) == 0) return s.place + ": " + s.key + ":" + message.substr(flag.size());
  }
  return message;
}

}  // namespace hookwire::cli
