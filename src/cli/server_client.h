// The hookwire server as the command line reaches it: its URL (--server, http:// only), one path segment
// encoded for a URL, and a blocking HTTP/1.1 call with the bearer token. Shared by `hookwire listen` and the
// terminal workflow (client_commands.h).
#pragma once

#include <string>
#include <string_view>

#include "core/result.h"

namespace hookwire::cli {

struct Server {
  std::string host;
  std::string port;
  std::string prefix;  // the URL's path, without a trailing '/'
};

// kValidation on "--server" unless `url` is http://HOST[:PORT][/path] without query or fragment.
Result<Server> parse_server(const std::string& url);

// `s` percent-encoded for one path segment (or a query value): only unreserved characters are left as they
// are.
std::string encode_segment(std::string_view s);

struct CallResult {
  unsigned status = 0;
  std::string body;
};

// One request over a new connection (30 s in all), JSON body when `body` is not empty. kUnavailable naming
// the server when it cannot be reached or does not answer.
Result<CallResult> call_server(const Server& server, const std::string& token, std::string_view method,
                               const std::string& target, std::string body = {});

}  // namespace hookwire::cli
