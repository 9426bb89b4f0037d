// The Svix-compatible management API (/api/v1/...), plus /api/v1/health and /metrics.
#pragma once

#include <chrono>

#include "api/router.h"
#include "api/v1/support.h"

namespace hookwire::api::v1 {

// Registers every v1 route on `router`. `ctx` must outlive the router.
void add_routes(Router& router, const ApiContext* ctx);
// What faces the internet when the public listener is separate (--public-listen): POST /in/{source} and the
// health probe; nothing of the management API, which stays on the private listener.
void add_public_routes(Router& router, const ApiContext* ctx);

// Per-resource registration (one file each).
void add_application_routes(Router& router, const ApiContext* ctx);
void add_event_type_routes(Router& router, const ApiContext* ctx);
void add_endpoint_routes(Router& router, const ApiContext* ctx);
void add_message_routes(Router& router, const ApiContext* ctx);
void add_attempt_routes(Router& router, const ApiContext* ctx);
void add_recovery_routes(Router& router, const ApiContext* ctx);
void add_background_task_routes(Router& router, const ApiContext* ctx);  // background_tasks.h
void add_delivery_routes(Router& router, const ApiContext* ctx);
void add_source_routes(Router& router, const ApiContext* ctx);   // inbound sources and POST /in/{source}
void add_inbound_routes(Router& router, const ApiContext* ctx);  // POST /in/{source} alone
void add_poller_routes(Router& router, const ApiContext* ctx);   // the pull door: poller, polling endpoint
void add_auth_routes(Router& router, const ApiContext* ctx);     // scoped tokens (when ctx->tokens is set)
// GET /api/v1/source/{source_id}/request[/{request_id}]: the requests a source was sent (source_requests.cc;
// called by add_source_routes).
void add_source_request_routes(Router& router, const ApiContext* ctx);
void add_server_routes(Router& router, const ApiContext* ctx);  // GET /api/v1/server/stats (server_stats.cc)
// Browser sessions (sessions.cc): /ui/api/{portal,console}/{login,session} and POST /api/v1/auth/logout.
void add_session_routes(Router& router, const ApiContext* ctx);
// GET .../poller/{sink}/stream (server-sent events; stream.cc). Needs ctx->feed_hub.
struct StreamOptions {
  std::chrono::milliseconds heartbeat{15'000};  // a `: heartbeat` comment after this long without an event
};
void add_stream_routes(Router& router, const ApiContext* ctx, StreamOptions options = {});
// Svix routes hookwire does not implement: 501 {"code":"not_supported","detail":...} (unsupported.cc).
void add_unsupported_routes(Router& router);

}  // namespace hookwire::api::v1
