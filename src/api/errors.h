// The one place where hookwire's error codes become HTTP statuses and Svix-shaped error bodies:
//  - {"code": "...", "detail": "..."} for most errors (Svix HttpErrorOut);
//  - {"detail": [{"loc": ["body", "url"], "msg": "...", "type": "value_error"}]} for 422 validation errors
//    (Svix HTTPValidationError), so the offending field is named.
#pragma once

#include <string_view>

#include "api/http_types.h"
#include "core/result.h"

namespace hookwire::api {

http::status http_status(Errc code);

// A complete JSON error response; `version` and `keep_alive` are copied from the request being answered.
Response error_response(const Error& error, unsigned version = 11, bool keep_alive = true);

// The same {"code", "detail"} shape for statuses no Errc maps to (405, 408, 431: produced by the HTTP
// server).
Response error_response(http::status status, std::string_view code, std::string_view detail,
                        unsigned version = 11, bool keep_alive = true);

// A JSON response with the given status and body text.
Response json_response(http::status status, std::string body, unsigned version = 11, bool keep_alive = true);

}  // namespace hookwire::api
