#include "web/web_routes.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/asio/awaitable.hpp>
#include <memory>

#include "api/errors.h"
#include "web/assets.h"

namespace hookwire::web {

namespace asio = boost::asio;
namespace http = api::http;
using api::PathParams;
using api::Request;
using api::Response;

namespace {

// Everything from this origin only; no inline script or style (the pages set colours through the CSSOM,
// which style-src does not govern); images also as data: URLs (none today); no plugins, no <base>, forms post
// nowhere else.
constexpr std::string_view kPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; object-src 'none'";

bool is_host_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
}

// The headers every answer here carries: the policy, no sniffing, no referrer (a portal's URL is nobody's
// business), and nothing kept by shared caches.
void set_common(Response& res, const std::string& policy) {
  res.set("Content-Security-Policy", policy);
  res.set("X-Content-Type-Options", "nosniff");
  res.set("Referrer-Policy", "no-referrer");
  res.set("Cross-Origin-Opener-Policy", "same-origin");
}

struct Pages {
  std::string portal_policy;
  std::string console_policy;
};

// A page (console.html, portal.html): never cached, so a new binary's page is used at once.
Response page(const Request& req, const Asset& asset, const std::string& policy, bool deny_frames) {
  Response res{http::status::ok, req.version()};
  res.keep_alive(req.keep_alive());
  set_common(res, policy);
  if (deny_frames) res.set("X-Frame-Options", "DENY");
  res.set(http::field::content_type, asset.type);
  res.set(http::field::cache_control, "no-store");
  res.body() = std::string(asset.bytes);
  res.prepare_payload();
  return res;
}

// A script or style: revalidated on each use (ETag, 304), since its path does not change with its content.
Response file(const Request& req, const Asset& asset, const std::string& policy) {
  const bool fresh = req[http::field::if_none_match] == asset.etag;
  Response res{fresh ? http::status::not_modified : http::status::ok, req.version()};
  res.keep_alive(req.keep_alive());
  set_common(res, policy);
  res.set(http::field::etag, asset.etag);
  res.set(http::field::cache_control, "no-cache");
  if (!fresh) {
    res.set(http::field::content_type, asset.type);
    res.body() = std::string(asset.bytes);
  }
  res.prepare_payload();
  return res;
}

asio::awaitable<Response> ready(Response res) { co_return res; }

// Scripts and styles, by path. The pages only at their own paths (with their own framing rules); scripts
// and styles are not pages, so the console's policy (no framing) is fine for them.
asio::awaitable<Response> serve_file(std::shared_ptr<const Pages> pages, const Request& req,
                                     std::string path) {
  const Asset* asset = find_asset(path);
  if (!asset || path.ends_with(".html"))
    co_return api::error_response(http::status::not_found, "not_found", "no such file of the web UI",
                                  req.version(), req.keep_alive());
  co_return file(req, *asset, pages->console_policy);
}

}  // namespace

Status check_frame_ancestor(std::string_view origin, std::string_view field) {
  const auto fail = [&](std::string_view why) {
    return Error::validation(
        std::string(field),
        fmt::format("\"{}\" {}: give an origin such as https://app.example.com", origin.substr(0, 100), why));
  };
  std::string_view rest = origin;
  if (rest.starts_with("https://"))
    rest.remove_prefix(8);
  else if (rest.starts_with("http://"))
    rest.remove_prefix(7);
  else
    return fail("is not an http:// or https:// origin");
  if (rest.starts_with("*.")) rest.remove_prefix(2);
  const auto colon = rest.find(':');
  const std::string_view host = rest.substr(0, colon);
  if (host.empty() || host.size() > 253 || !std::all_of(host.begin(), host.end(), is_host_char) ||
      host.front() == '.' || host.back() == '.')
    return fail("has no valid host name");
  if (colon != std::string_view::npos) {
    const std::string_view port = rest.substr(colon + 1);
    if (port.empty() || port.size() > 5 ||
        !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return fail("has no valid port");
  }
  return {};
}

std::string console_policy() { return fmt::format("{}; frame-ancestors 'none'", kPolicy); }

std::string portal_policy(const WebOptions& options) {
  std::string ancestors = "'self'";
  for (const auto& o : options.portal_frame_ancestors) ancestors += " " + o;
  return fmt::format("{}; frame-ancestors {}", kPolicy, ancestors);
}

void add_web_routes(api::Router& router, const WebOptions& options) {
  auto pages = std::make_shared<const Pages>(Pages{portal_policy(options), console_policy()});
  const Asset* console = find_asset("console.html");
  const Asset* portal = find_asset("portal.html");
  if (!console || !portal) throw std::logic_error("the web UI's pages are not embedded");
  router.add(http::verb::get, "/console", [pages, console](const Request& req, const PathParams&) {
    return ready(page(req, *console, pages->console_policy, true));
  });
  router.add(http::verb::get, "/portal", [pages, portal](const Request& req, const PathParams&) {
    return ready(page(req, *portal, pages->portal_policy, false));
  });
  // The root of a server people open in a browser: the console (which asks for the admin token).
  router.add(http::verb::get, "/", [pages](const Request& req, const PathParams&) {
    Response res{http::status::found, req.version()};
    res.keep_alive(req.keep_alive());
    set_common(res, pages->console_policy);
    res.set(http::field::location, "/console");
    res.prepare_payload();
    return ready(std::move(res));
  });
  // Scripts and styles, one or two segments deep.
  router.add(http::verb::get, "/ui/{file}", [pages](const Request& req, const PathParams& p) {
    return serve_file(pages, req, p.get("file"));
  });
  router.add(http::verb::get, "/ui/{dir}/{file}", [pages](const Request& req, const PathParams& p) {
    return serve_file(pages, req, p.get("dir") + "/" + p.get("file"));
  });
}

}  // namespace hookwire::web
