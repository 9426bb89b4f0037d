// Request framing: how HttpServer turns bytes into one request and which heads it refuses, free of sockets
// and I/O so that a fuzzer (fuzz/fuzz_http_request.cc) drives exactly what the server runs.
//
// Per request on a connection, the server does, in this order:
//   RequestParser p; start_request(p, limits);          // or parser.emplace() + start_request(*parser, ...)
//   feed(p, buffer) as bytes arrive (appended to `buffer`), until p.is_header_done() or an error;
//   check_head(p, framing): a Response means answer it at once, read no body, close the connection;
//   (route, credentials and memory are checked on the head here: http_server.cc)
//   p.eager(true); feed(p, buffer) as bytes arrive, until p.is_done() or an error;
//   check_complete(p, framing): a Response means answer it and close (a chunked trailer was sent);
//   a feed() error: read_error_response(ec, ...) is the answer (400/413/431), nullopt when none is owed.
// Bytes left in `buffer` after p.is_done() belong to the next request (pipelining): only a request that
// passed check_head() and check_complete() may leave any (a refused one closes the connection).
// Everything here is a pure function of its arguments; thread-compatible.
#pragma once

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/system/error_code.hpp>
#include <cstddef>
#include <optional>

#include "api/http_types.h"

namespace hookwire::api {

using RequestParser = http::request_parser<http::string_body>;

struct FramingLimits {
  size_t header_limit = 16 << 10;  // request line and fields (431 past it)
  size_t body_limit = 1 << 20;     // declared Content-Length or chunked total (413 past it)
};

// What check_head() learned that check_complete() needs. Reset by check_head().
struct Framing {
  size_t header_fields = 0;  // fields of a chunked request's head; more at the end are trailer fields
};

// Configures a fresh parser: the limits, and eager(false) so that feed() stops once the head is parsed.
void start_request(RequestParser& parser, const FramingLimits& limits);

// Gives the parser what `buffer` holds and consumes what it took. Stops when the buffer is empty, the head
// is done (while the parser is not eager), the message is done, or on an error. need_more is not an
// error: the caller appends more bytes and calls again.
boost::system::error_code feed(RequestParser& parser, boost::beast::flat_buffer& buffer);

// The framing rules for a parsed head (RFC 9112 §6): a Transfer-Encoding other than exactly one
// `chunked` (gzip, identity, "chunked, gzip", chunked twice, over several lines), Transfer-Encoding with
// Content-Length, or Transfer-Encoding in HTTP/1.0 cannot be framed safely: 501 for a coding we do not
// implement, else 400. The response has `Connection: close`. Requires parser.is_header_done().
std::optional<Response> check_head(const RequestParser& parser, Framing& framing);

// A chunked request's trailer fields would land in its header fields (Beast inserts them in the same
// container), where auth or idempotency code would believe them: a request that sent any is refused (400,
// `Connection: close`). Requires parser.is_done() and check_head() to have passed.
std::optional<Response> check_complete(const RequestParser& parser, const Framing& framing);

// The answer owed for a failed read: 413 (body limit), 431 (header limit), 400 (malformed HTTP); nullopt
// when the client went away (end of stream, partial message) or `ec` is not an HTTP parse error. `version`
// is the request's if its head was parsed (else 11). Every answer has `Connection: close`.
std::optional<Response> read_error_response(boost::system::error_code ec, unsigned version);

}  // namespace hookwire::api
