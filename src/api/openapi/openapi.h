// The OpenAPI document of hookwire's additions to Svix's API (openapi.json in this directory, embedded at
// build time). Served at GET /api/v1/openapi.json.
#pragma once

#include <string_view>

namespace hookwire::api {

std::string_view openapi_json();

}  // namespace hookwire::api
