// Router: (method, path) -> handler, with {name} captures. Distinguishes "no such path" (404) from
// "path exists, method does not" (405, with the allowed methods). Built once at start-up, then read-only
// and safe to use from every thread.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/http_types.h"

namespace hookwire::api {

// What a route asks of a request before its body is read. HttpServer runs `check` on the parsed head (the
// body not yet read, `head.body()` empty) on the connection's loop; it must be quick and must not block.
struct Admission {
  // nullopt lets the body be read and the handler run; a Response is sent at once (with `Connection:
  // close` when a body was announced) and the body is never read. Empty: every request is admitted.
  std::function<std::optional<Response>(const Request& head)> check;
  // For a check that needs the path's captures (runs instead of `check` when set). `route.params` are the
  // router's (the handler gets them after; the check may leave it a note, PathParams::set_note);
  // `route.body_limit` is the request's, which the check may lower (a declared Content-Length over it is then
  // answered 413 on the head, a chunked body cut there as it streams: 413). When it cannot decide
  // without waiting (e.g. a cache miss) it sets `route.wait` and returns nullopt: the server awaits `wait`
  // and runs it once more (then nullopt lets the request through, whatever `route.wait`).
  struct Route {
    PathParams& params;
    size_t body_limit;
    bool wait = false;
  };
  std::function<std::optional<Response>(const Request& head, Route& route)> check_route;
  std::function<boost::asio::awaitable<void>(const Request& head, const PathParams& params)> wait;
  // True when `check` authenticates the caller (a bearer token): the body is then not counted against
  // the server's budget of unauthenticated body bytes (ServerOptions::unauthenticated_body_budget).
  bool authenticates = false;
};

// A handler with the admission it needs (e.g. v1::authed()).
struct GuardedHandler {
  Handler handler;
  Admission admission;
};

class Router {
 public:
  // pattern: "/api/v1/app/{app_id}/msg/{msg_id}"; literal segments match exactly, {x} matches one non-empty
  // segment. When two patterns match, the one with more literal segments wins ("/app/x/secret" before
  // "/app/{id}").
  void add(http::verb method, std::string pattern, Handler handler, Admission admission = {});
  void add(http::verb method, std::string pattern, GuardedHandler guarded) {
    add(method, std::move(pattern), std::move(guarded.handler), std::move(guarded.admission));
  }

  struct Match {
    const Handler* handler = nullptr;      // null: see allowed
    const Admission* admission = nullptr;  // with handler
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
    Admission admission;
  };
  std::vector<Route> routes_;
  std::vector<std::vector<size_t>> by_length_;  // indexes into routes_ by segment count, in the order added
};

}  // namespace hookwire::api
