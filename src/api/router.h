// Router: (method, path) -> handler, with {name} captures. Distinguishes "no such path" (404) from
// "path exists, method does not" (405, with the allowed methods). Built once at start-up, then read-only
// and safe to use from every thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/http_types.h"

namespace hookwire::api {

class Router {
 public:
  // pattern: "/api/v1/app/{app_id}/msg/{msg_id}"; literal segments match exactly, {x} matches one non-empty
  // segment. When two patterns match, the one with more literal segments wins ("/app/x/secret" before
  // "/app/{id}").
  void add(http::verb method, std::string pattern, Handler handler);

  struct Match {
    const Handler* handler = nullptr;  // null: see allowed
    PathParams params;
    std::string_view route;           // the matched pattern (a metrics label); empty if no path matched
    std::vector<http::verb> allowed;  // when the path matched but the method did not
  };
  // `target` may carry a query string; it is ignored here.
  Match match(http::verb method, std::string_view target) const;

 private:
  struct Route {
    http::verb method;
    std::string pattern;
    std::vector<std::string> segments;
    int literals = 0;
    Handler handler;
  };
  std::vector<Route> routes_;
};

}  // namespace hookwire::api
