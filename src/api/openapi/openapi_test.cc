// The embedded OpenAPI document is valid JSON and describes exactly the SourceIn fields the inbound module
// accepts, so the document cannot drift from the code.
#include "api/openapi/openapi.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <set>

#include "inbound/source.h"

namespace hookwire::api {
namespace {

namespace json = boost::json;

TEST(OpenApi, DescribesEverySourceInFieldAndNothingElse) {
  json::value doc = json::parse(openapi_json());
  const auto& schemas = doc.at("components").at("schemas").as_object();
  std::set<std::string> documented;
  for (const auto& [name, _] : schemas.at("SourceIn").at("properties").as_object())
    if (name != "hmac") documented.emplace(name);
  for (const auto& [name, _] : schemas.at("GenericHmac").at("properties").as_object())
    documented.emplace("hmac." + std::string(name));
  std::set<std::string> accepted;
  for (auto name : inbound::source_field_names()) accepted.emplace(name);
  EXPECT_EQ(documented, accepted);

  const auto& verifiers = schemas.at("VerifierType").at("enum").as_array();
  for (const auto& v : verifiers) EXPECT_TRUE(inbound::parse_verifier_type(v.as_string()).has_value()) << v;
  EXPECT_EQ(verifiers.size(), 8u);

  const auto& paths = doc.at("paths").as_object();
  for (const char* p : {"/api/v1/source", "/api/v1/source/{source_id}", "/api/v1/source/{source_id}/request",
                        "/api/v1/source/{source_id}/request/{request_id}", "/in/{source}"})
    EXPECT_TRUE(paths.contains(p)) << p;
  // The pull door's poller routes (v1/poller.cc), with Svix's schema names.
  for (const char* p : {"/api/v1/app/{app_id}/poller/{sink_id}",
                        "/api/v1/app/{app_id}/poller/{sink_id}/consumer/{consumer_id}",
                        "/api/v1/app/{app_id}/poller/{sink_id}/consumer/{consumer_id}/seek",
                        "/api/v1/app/{app_id}/polling-endpoint/{sink_id}/consumer/{consumer_id}",
                        "/api/v1/app/{app_id}/polling-endpoint/{sink_id}/consumer/{consumer_id}/commit",
                        "/api/v1/app/{app_id}/poller/{sink_id}/stream",  // v1/stream.cc
                        // Scoped tokens (v1/auth.cc).
                        "/api/v1/auth/app/{app_id}/poller/{endpoint_id}/token",
                        "/api/v1/auth/app/{app_id}/poller/{endpoint_id}/token/rotate",
                        "/api/v1/auth/app-portal-access/{app_id}",
                        // The console's and portal's reads (issue #22).
                        "/api/v1/app/{app_id}/stream", "/api/v1/app/{app_id}/endpoint/{endpoint_id}/health",
                        "/api/v1/server/stats"})
    EXPECT_TRUE(paths.contains(p)) << p;
  for (const char* s :
       {"PollingEndpointOut", "PollingEndpointMessageOut", "PollerV2PollOut", "PollerV2MessageOut",
        "PollingEndpointConsumerSeekIn", "PollingEndpointConsumerSeekOut", "PollerV2CommitIn", "ApiTokenOut",
        "RotatePollerTokenIn", "AppPortalAccessIn", "AppPortalAccessOut", "EndpointExtensions",
        "SourceRequestOut", "ListResponse_SourceRequestOut", "EndpointHealthOut", "ServerStatsOut",
        "MessageAttemptExtensions"})
    EXPECT_TRUE(schemas.contains(s)) << s;
  EXPECT_NE(std::string(doc.at("info").at("description").as_string()).find("Svix"), std::string::npos);
}

}  // namespace
}  // namespace hookwire::api
