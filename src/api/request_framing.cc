#include "api/request_framing.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <iterator>
#include <string_view>

#include "api/errors.h"

namespace hookwire::api {

namespace beast = boost::beast;
using boost::system::error_code;

namespace {

Response refuse(http::status status, std::string_view code, std::string_view detail, unsigned version) {
  return error_response(status, code, detail, version, false);
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// RFC 9110 §5.6.2: token = 1*tchar.
bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s)
    if (!std::isalnum(c) &&
        std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) == std::string_view::npos)
      return false;
  return true;
}

size_t field_count(const Request::header_type& head) {
  return static_cast<size_t>(std::distance(head.begin(), head.end()));
}

}  // namespace

void start_request(RequestParser& parser, const FramingLimits& limits) {
  parser.header_limit(static_cast<std::uint32_t>(std::min<size_t>(limits.header_limit, UINT32_MAX)));
  parser.body_limit(limits.body_limit);
  parser.eager(false);
}

error_code feed(RequestParser& parser, beast::flat_buffer& buffer) {
  error_code ec;
  while (buffer.size() > 0 && !parser.is_done()) {
    const bool header_was_done = parser.is_header_done();
    const size_t n = parser.put(buffer.data(), ec);
    buffer.consume(n);
    if (ec == http::error::need_more) return {};
    if (ec || n == 0) return ec;
    if (!header_was_done && parser.is_header_done() && !parser.eager()) return {};
  }
  return {};
}

std::optional<Response> check_head(const RequestParser& parser, Framing& framing) {
  const auto& head = parser.get();
  framing = {};
  const auto te = head.equal_range(http::field::transfer_encoding);
  if (te.first == te.second) return std::nullopt;  // the usual request: Content-Length or no body

  const unsigned version = head.version();
  if (version < 11)
    return refuse(http::status::bad_request, "bad_request", "Transfer-Encoding is not allowed in HTTP/1.0",
                  version);
  if (head.find(http::field::content_length) != head.end())
    return refuse(http::status::bad_request, "bad_request",
                  "Transfer-Encoding and Content-Length must not both be sent", version);
  // Every coding, across every Transfer-Encoding line, in order.
  size_t codings = 0;
  size_t chunked_at = 0;  // 1-based position of the first `chunked`; 0 if none
  bool chunked_twice = false;
  for (auto it = te.first; it != te.second; ++it) {
    const auto value = it->value();
    if (value.find_first_not_of(" \t,") == beast::string_view::npos)
      return refuse(http::status::bad_request, "bad_request", "empty Transfer-Encoding", version);
    // Split by hand: Beast's token_list stops at the first malformed element, so "chunked HTTP/1.1" would
    // read as a lone chunked while another hop reads it otherwise. Every element must be one token.
    std::string_view rest(value.data(), value.size());
    for (;;) {
      const size_t comma = rest.find(',');
      const std::string_view coding = trim_ows(rest.substr(0, comma));
      if (!coding.empty()) {
        if (!is_token(coding))
          return refuse(http::status::bad_request, "bad_request", "malformed Transfer-Encoding", version);
        ++codings;
        if (beast::iequals(coding, "chunked")) {
          if (chunked_at != 0) chunked_twice = true;
          chunked_at = codings;
        }
      }
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  if (chunked_at == 0 || chunked_at != codings || chunked_twice || !parser.chunked())
    return refuse(http::status::bad_request, "bad_request",
                  "Transfer-Encoding must end with a single chunked coding", version);
  if (codings != 1)
    return refuse(http::status::not_implemented, "not_implemented",
                  "only the chunked transfer coding is supported", version);
  framing.header_fields = field_count(head);
  return std::nullopt;
}

std::optional<Response> check_complete(const RequestParser& parser, const Framing& framing) {
  if (!parser.chunked()) return std::nullopt;
  const auto& head = parser.get();
  if (field_count(head) == framing.header_fields) return std::nullopt;
  return refuse(http::status::bad_request, "bad_request", "chunked trailer fields are not accepted",
                head.version());
}

std::optional<Response> read_error_response(error_code ec, unsigned version) {
  if (ec == http::error::body_limit)
    return error_response({Errc::kPayloadTooLarge, "request body too large", {}}, version, false);
  if (ec == http::error::header_limit || ec == http::error::buffer_overflow)
    return refuse(http::status::request_header_fields_too_large, "request_header_fields_too_large",
                  "request header too large", version);
  if (ec.category() == http::make_error_code(http::error::bad_method).category() &&
      ec != http::error::end_of_stream && ec != http::error::partial_message && ec != http::error::need_more)
    return refuse(http::status::bad_request, "bad_request", "malformed HTTP request", version);
  return std::nullopt;
}

}  // namespace hookwire::api
