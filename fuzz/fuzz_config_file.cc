// The config file reader (cli/config_file.h): the input is the file's text, written to a temporary file and
// read as `hookwire serve --config FILE` does: apply_config_file() for the flat settings,
// read_config_sources() for the [source.NAME] tables, whose objects then go through parse_source_spec() as
// the app loads them. Invariants: no crash or UB; every error carries a message; accepted settings are
// inserted after the subcommand, the command line kept in order around them, each a `--key` followed by its
// value; each source is a JSON object with a string uid.
#include <unistd.h>

#include <boost/json.hpp>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "cli/config_file.h"
#include "inbound/source.h"

using namespace hookwire;

namespace {

[[noreturn]] void broken(const char* what) {
  std::fprintf(stderr, "invariant broken: %s\n", what);
  std::abort();
}

const std::string& file_path() {
  static const std::string path = [] {
    const char* dir = std::getenv("TMPDIR");
    std::string p = std::string(dir && *dir ? dir : "/tmp") + "/fuzz_config_file.XXXXXX";
    const int fd = mkstemp(p.data());
    if (fd < 0) broken("cannot create the temporary file");
    close(fd);
    std::atexit([] { unlink(file_path().c_str()); });
    return p;
  }();
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = file_path();
  {
    FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) broken("cannot write the temporary file");
    if (size && std::fwrite(data, 1, size, f) != size) broken("short write");
    std::fclose(f);
  }
  const std::vector<std::string> args = {"hookwire", "serve", "--port", "0", "--config", path};
  auto applied = cli::apply_config_file(args, "serve", "HOOKWIRE_FUZZ_UNSET_CONFIG");
  if (!applied) {
    if (applied.error().detail.empty()) broken("a config error without a message");
  } else {
    const auto& out = *applied;
    if (out.size() < args.size() || (out.size() - args.size()) % 2 != 0) broken("settings not in pairs");
    const size_t extra = out.size() - args.size();
    if (out[0] != args[0] || out[1] != args[1]) broken("the command was changed");
    for (size_t i = 2; i < args.size(); ++i)
      if (out[i + extra] != args[i]) broken("the command line was changed");
    for (size_t i = 2; i < 2 + extra; i += 2)
      if (!out[i].starts_with("--") || out[i] == "--port" || out[i] == "--config")
        broken("a setting that is not a --flag, or one the command line already gives");
  }
  auto sources = cli::read_config_sources(path);
  if (!sources) {
    if (sources.error().detail.empty()) broken("a config error without a message");
    return 0;
  }
  bool non_ascii = false;
  for (size_t i = 0; i < size; ++i) non_ascii |= data[i] >= 0x80;
  for (const auto& text : *sources) {
    boost::system::error_code ec;
    const auto v = boost::json::parse(text, ec);
    if (ec) {
      // Known, reported (fuzz/README.md): values are not checked for UTF-8, so a file with invalid UTF-8 in a
      // [source.NAME] value yields text that is not JSON, and the app then refuses to start with "a source in
      // the config file is not an object". Only a file with bytes outside ASCII may do that.
      if (!non_ascii) broken("a source that is not JSON from an ASCII file");
      continue;
    }
    if (!v.is_object()) broken("a source that is not a JSON object");
    const auto* uid = v.as_object().if_contains("uid");
    if (!uid || !uid->is_string()) broken("a source without a string uid");
    auto spec = inbound::parse_source_spec(v.as_object(), 1 << 20, "source");
    if (!spec && spec.error().detail.empty()) broken("a source refusal without a message");
  }
  return 0;
}
