#include "api/errors.h"

#include <boost/json.hpp>

namespace hookwire::api {

namespace json = boost::json;

http::status http_status(Errc code) {
  switch (code) {
    case Errc::kBadRequest:
      return http::status::bad_request;
    case Errc::kValidation:
      return http::status::unprocessable_entity;
    case Errc::kUnauthorized:
      return http::status::unauthorized;
    case Errc::kForbidden:
      return http::status::forbidden;
    case Errc::kNotFound:
      return http::status::not_found;
    case Errc::kConflict:
      return http::status::conflict;
    case Errc::kPayloadTooLarge:
      return http::status::payload_too_large;
    case Errc::kUnavailable:
      return http::status::service_unavailable;
    case Errc::kInternal:
      return http::status::internal_server_error;
  }
  return http::status::internal_server_error;
}

namespace {
const char* code_name(Errc code) {
  switch (code) {
    case Errc::kBadRequest:
      return "bad_request";
    case Errc::kValidation:
      return "validation";
    case Errc::kUnauthorized:
      return "authentication_failed";
    case Errc::kForbidden:
      return "forbidden";
    case Errc::kNotFound:
      return "not_found";
    case Errc::kConflict:
      return "conflict";
    case Errc::kPayloadTooLarge:
      return "payload_too_large";
    case Errc::kUnavailable:
      return "unavailable";
    case Errc::kInternal:
      return "internal_error";
  }
  return "internal_error";
}
}  // namespace

Response json_response(http::status status, std::string body, unsigned version, bool keep_alive) {
  Response res{status, version};
  res.set(http::field::content_type, "application/json");
  res.keep_alive(keep_alive);
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

Response error_response(http::status status, std::string_view code, std::string_view detail, unsigned version,
                        bool keep_alive) {
  json::object body{{"code", code}, {"detail", detail}};
  return json_response(status, json::serialize(body), version, keep_alive);
}

Response error_response(const Error& error, unsigned version, bool keep_alive) {
  json::object body;
  if (error.code == Errc::kValidation) {
    json::array loc;
    // "body.url" -> ["body", "url"]; "body" -> ["body"]; any other bare name is taken to be a body field.
    std::string_view f = error.field;
    const bool is_location = f == "body" || f == "query" || f == "header" || f == "path";
    if (f.find('.') == std::string_view::npos && !is_location) loc.emplace_back("body");
    while (!f.empty()) {
      auto dot = f.find('.');
      loc.emplace_back(f.substr(0, dot));
      f = dot == std::string_view::npos ? std::string_view{} : f.substr(dot + 1);
    }
    json::object item{{"loc", std::move(loc)}, {"msg", error.detail}, {"type", "value_error"}};
    body["detail"] = json::array{std::move(item)};
  } else {
    body["code"] = code_name(error.code);
    body["detail"] = error.detail;
  }
  auto res = json_response(http_status(error.code), json::serialize(body), version, keep_alive);
  if (error.code == Errc::kUnauthorized) res.set(http::field::www_authenticate, "Bearer");
  // Unavailable is temporary by definition (storage full, store busy, shutting down): say when to try again.
  if (error.code == Errc::kUnavailable) res.set(http::field::retry_after, "5");
  return res;
}

}  // namespace hookwire::api
