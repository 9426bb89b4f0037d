// Svix routes hookwire does not implement: each answers 501 with a body that says so and why, never 404 "no
// such path" (which reads as a wrong URL or an old server). docs/api-compatibility.md lists every svix SDK
// method and its status; tests/interop/svix_parity.test.mjs checks the table against a run of the SDK.
#include <fmt/format.h>

#include "api/errors.h"
#include "api/v1/routes.h"

namespace hookwire::api::v1 {
namespace {

struct Unsupported {
  http::verb method;
  const char* path;  // Svix's template
  const char* what;  // the Svix feature, for the answer
};

// Why each family is missing, and what to use instead where hookwire has it.
constexpr const char* kConnectors = "connectors (templates for endpoint transformations)";
constexpr const char* kDestinations = "non-HTTP destinations (SQS, Kafka, ...): endpoints are HTTP only";
constexpr const char* kTransformations = "transformations (JavaScript run on each message)";
constexpr const char* kStreaming =
    "Svix Stream: the pull feed (GET /api/v1/app/{app_id}/poller/{sink_id}) "
    "reads an application's log instead";
constexpr const char* kIngest =
    "Svix Ingest: hookwire's inbound sources are at /api/v1/source, and "
    "providers post to /in/{source}";
constexpr const char* kIntegrations = "integrations";
constexpr const char* kEnvironment = "environment import and export";
constexpr const char* kOperational =
    "operational webhook endpoints through the API: set --operational-webhook-url (and -secret) instead";
constexpr const char* kAutoConfig = "AutoConfig subscriptions";
constexpr const char* kBulkExpunge =
    "bulk expunging of listed messages: expunge each one "
    "(DELETE /api/v1/app/{app_id}/msg/{msg_id}/content)";

using V = http::verb;
constexpr Unsupported kRoutes[] = {
    {V::post, "/api/v1/auth/stream-portal-access/{stream_id}", kStreaming},
    {V::post, "/api/v1/auth/stream-logout", kStreaming},
    {V::post, "/api/v1/auth/stream/{stream_id}/expire-all", kStreaming},
    {V::post, "/api/v1/auth/stream/{stream_id}/sink/{sink_id}/poller/token/rotate", kStreaming},
    {V::get, "/api/v1/auth/stream/{stream_id}/sink/{sink_id}/poller/token", kStreaming},
    {V::post, "/api/v1/app/{app_id}/autoconfig", kAutoConfig},
    {V::post, "/api/v1/app/{app_id}/autoconfig/{autoconfig_id}/rotate", kAutoConfig},
    {V::get, "/api/v1/app/{app_id}/autoconfig/{autoconfig_id}", kAutoConfig},
    {V::put, "/api/v1/app/{app_id}/autoconfig/{autoconfig_id}/endpoint", kAutoConfig},
    {V::put, "/api/v1/app/{app_id}/autoconfig/{autoconfig_id}/destination", kAutoConfig},
    {V::put, "/api/v1/app/{app_id}/endpoint/{endpoint_id}/auto-config", kAutoConfig},
    {V::get, "/api/v1/connector", kConnectors},
    {V::post, "/api/v1/connector", kConnectors},
    {V::get, "/api/v1/connector/{connector_id}", kConnectors},
    {V::put, "/api/v1/connector/{connector_id}", kConnectors},
    {V::delete_, "/api/v1/connector/{connector_id}", kConnectors},
    {V::patch, "/api/v1/connector/{connector_id}", kConnectors},
    {V::get, "/api/v1/app/{app_id}/destination", kDestinations},
    {V::post, "/api/v1/app/{app_id}/destination", kDestinations},
    {V::get, "/api/v1/app/{app_id}/destination/{destination_id}", kDestinations},
    {V::put, "/api/v1/app/{app_id}/destination/{destination_id}", kDestinations},
    {V::delete_, "/api/v1/app/{app_id}/destination/{destination_id}", kDestinations},
    {V::patch, "/api/v1/app/{app_id}/destination/{destination_id}", kDestinations},
    {V::get, "/api/v1/app/{app_id}/destination/{destination_id}/transformation", kDestinations},
    {V::patch, "/api/v1/app/{app_id}/destination/{destination_id}/transformation", kDestinations},
    {V::get, "/api/v1/app/{app_id}/endpoint/{endpoint_id}/transformation", kTransformations},
    {V::patch, "/api/v1/app/{app_id}/endpoint/{endpoint_id}/transformation", kTransformations},
    {V::post, "/api/v1/environment/export", kEnvironment},
    {V::post, "/api/v1/environment/import", kEnvironment},
    {V::get, "/ingest/api/v1/source", kIngest},
    {V::post, "/ingest/api/v1/source", kIngest},
    {V::get, "/ingest/api/v1/source/{source_id}", kIngest},
    {V::put, "/ingest/api/v1/source/{source_id}", kIngest},
    {V::delete_, "/ingest/api/v1/source/{source_id}", kIngest},
    {V::post, "/ingest/api/v1/source/{source_id}/token/rotate", kIngest},
    {V::post, "/ingest/api/v1/source/{source_id}/dashboard", kIngest},
    {V::get, "/ingest/api/v1/source/{source_id}/endpoint", kIngest},
    {V::post, "/ingest/api/v1/source/{source_id}/endpoint", kIngest},
    {V::get, "/ingest/api/v1/source/{source_id}/endpoint/{endpoint_id}", kIngest},
    {V::put, "/ingest/api/v1/source/{source_id}/endpoint/{endpoint_id}", kIngest},
    {V::delete_, "/ingest/api/v1/source/{source_id}/endpoint/{endpoint_id}", kIngest},
    {V::get, "/ingest/api/v1/source/{source_id}/endpoint/{endpoint_id}/secret", kIngest},
    {V::post, "/ingest/api/v1/source/{source_id}/endpoint/{endpoint_id}/secret/rotate", kIngest},
    {V::get, "/ingest/api/v1/source/{source_id}/endpoint/{endpoint_id}/headers", kIngest},
    {V::put, "/ingest/api/v1/source/{source_id}/endpoint/{endpoint_id}/headers", kIngest},
    {V::get, "/ingest/api/v1/source/{source_id}/endpoint/{endpoint_id}/transformation", kIngest},
    {V::patch, "/ingest/api/v1/source/{source_id}/endpoint/{endpoint_id}/transformation", kIngest},
    {V::get, "/api/v1/app/{app_id}/integration", kIntegrations},
    {V::post, "/api/v1/app/{app_id}/integration", kIntegrations},
    {V::get, "/api/v1/app/{app_id}/integration/{integ_id}", kIntegrations},
    {V::put, "/api/v1/app/{app_id}/integration/{integ_id}", kIntegrations},
    {V::delete_, "/api/v1/app/{app_id}/integration/{integ_id}", kIntegrations},
    {V::post, "/api/v1/app/{app_id}/integration/{integ_id}/key/rotate", kIntegrations},
    {V::post, "/api/v1/app/{app_id}/msg/bulk-expunge", kBulkExpunge},
    {V::get, "/api/v1/operational-webhook/endpoint", kOperational},
    {V::post, "/api/v1/operational-webhook/endpoint", kOperational},
    {V::get, "/api/v1/operational-webhook/endpoint/{endpoint_id}", kOperational},
    {V::put, "/api/v1/operational-webhook/endpoint/{endpoint_id}", kOperational},
    {V::delete_, "/api/v1/operational-webhook/endpoint/{endpoint_id}", kOperational},
    {V::get, "/api/v1/operational-webhook/endpoint/{endpoint_id}/secret", kOperational},
    {V::post, "/api/v1/operational-webhook/endpoint/{endpoint_id}/secret/rotate", kOperational},
    {V::get, "/api/v1/operational-webhook/endpoint/{endpoint_id}/headers", kOperational},
    {V::put, "/api/v1/operational-webhook/endpoint/{endpoint_id}/headers", kOperational},
    {V::get, "/api/v1/stream", kStreaming},
    {V::post, "/api/v1/stream", kStreaming},
    {V::get, "/api/v1/stream/{stream_id}", kStreaming},
    {V::put, "/api/v1/stream/{stream_id}", kStreaming},
    {V::delete_, "/api/v1/stream/{stream_id}", kStreaming},
    {V::patch, "/api/v1/stream/{stream_id}", kStreaming},
    {V::get, "/api/v1/stream/event-type", kStreaming},
    {V::post, "/api/v1/stream/event-type", kStreaming},
    {V::get, "/api/v1/stream/event-type/{name}", kStreaming},
    {V::put, "/api/v1/stream/event-type/{name}", kStreaming},
    {V::delete_, "/api/v1/stream/event-type/{name}", kStreaming},
    {V::patch, "/api/v1/stream/event-type/{name}", kStreaming},
    {V::post, "/api/v1/stream/{stream_id}/events", kStreaming},
    {V::get, "/api/v1/stream/{stream_id}/sink/{sink_id}/events", kStreaming},
    {V::get, "/api/v1/stream/{stream_id}/sink", kStreaming},
    {V::post, "/api/v1/stream/{stream_id}/sink", kStreaming},
    {V::get, "/api/v1/stream/{stream_id}/sink/{sink_id}", kStreaming},
    {V::put, "/api/v1/stream/{stream_id}/sink/{sink_id}", kStreaming},
    {V::delete_, "/api/v1/stream/{stream_id}/sink/{sink_id}", kStreaming},
    {V::patch, "/api/v1/stream/{stream_id}/sink/{sink_id}", kStreaming},
    {V::get, "/api/v1/stream/{stream_id}/sink/{sink_id}/secret", kStreaming},
    {V::post, "/api/v1/stream/{stream_id}/sink/{sink_id}/secret/rotate", kStreaming},
    {V::get, "/api/v1/stream/{stream_id}/sink/{sink_id}/transformation", kStreaming},
    {V::patch, "/api/v1/stream/{stream_id}/sink/{sink_id}/transformation", kStreaming},
    {V::get, "/api/v1/stream/{stream_id}/sink/{sink_id}/headers", kStreaming},
    {V::patch, "/api/v1/stream/{stream_id}/sink/{sink_id}/headers", kStreaming},
};

}  // namespace

void add_unsupported_routes(Router& router) {
  for (const auto& r : kRoutes) {
    const std::string detail =
        fmt::format("hookwire does not support {} {}: {}", http::to_string(r.method), r.path, r.what);
    // No admission: the answer says only that the feature is absent, whoever asks (Svix's SDK calls some of
    // these with portal tokens).
    router.add(r.method, r.path,
               [detail](const Request& req, const PathParams&) -> boost::asio::awaitable<Response> {
                 co_return error_response(http::status::not_implemented, "not_supported", detail,
                                          req.version(), req.keep_alive());
               });
  }
}

}  // namespace hookwire::api::v1
