// The browser UI's routes: GET /console (the operator's console), GET /portal (one application's portal,
// embeddable in an iframe), GET /ui/... (their scripts and styles), and GET / (to the console). Every answer
// carries a strict Content-Security-Policy: scripts, styles and connections from this origin only, no inline
// script or style, no plugin, no <base>; pages render every value as text (src/web/README.md), and the
// policy is the second wall. Who may frame a page: nobody for the console; this origin and the configured
// origins for the portal.
// The pages hold no data and need no token: they log in through /ui/api/... (api/v1) and then call the API.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "api/router.h"
#include "core/result.h"

namespace hookwire::web {

struct WebOptions {
  // Origins that may show the portal in an iframe (CSP frame-ancestors), e.g. "https://app.example.com"
  // (--portal-frame-ancestor). Each must pass check_frame_ancestor(). Empty: only this server's own pages.
  std::vector<std::string> portal_frame_ancestors;
};

// `origin` as a frame-ancestors source: scheme http or https, a host (a leading "*." allowed), an optional
// port, nothing else (no path, query, quote, space or semicolon, which would change the policy). The error
// names `field`.
Status check_frame_ancestor(std::string_view origin, std::string_view field);

// The Content-Security-Policy of the portal's page, and of every other answer here.
std::string portal_policy(const WebOptions& options);
std::string console_policy();

void add_web_routes(api::Router& router, const WebOptions& options);

}  // namespace hookwire::web
