// The browser UI's files (src/web/ui), embedded in the binary at build time (embed_assets.cmake): nothing is
// read from disk or fetched at run time.
#pragma once

#include <span>
#include <string_view>

namespace hookwire::web {

struct Asset {
  std::string_view path;   // relative to src/web/ui, '/'-separated: "app.js", "views/messages.js"
  std::string_view type;   // the Content-Type it is served with
  std::string_view etag;   // a strong ETag, quoted: the start of the file's SHA-256
  std::string_view bytes;  // the file
};

// Every embedded file, sorted by path (generated: web_assets.cc).
std::span<const Asset> embedded_assets();
// The file at `path`, or null.
const Asset* find_asset(std::string_view path);

}  // namespace hookwire::web
