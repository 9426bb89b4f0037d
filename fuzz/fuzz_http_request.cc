// The HTTP request head and body framing as the server sees them: the bytes of one connection go through
// api/request_framing.h in the order http_server.cc runs it (start_request, feed until the head is done,
// check_head, eager feed until the message is done, check_complete, read_error_response on a feed error),
// arriving in two reads split at a fuzzed point, with as many pipelined requests as the bytes hold.
// Input: byte 0 picks the limits (body 0/1/64/1024/1 MiB, header 256 B or 16 KiB), bytes 1-2 the split point,
// the rest is the connection's bytes.
// Invariants: no crash or UB; an accepted request's body is within the body limit and, with Content-Length,
// of that length; a request whose Transfer-Encoding is anything but exactly `chunked` (one coding, HTTP/1.1,
// no Content-Length) is refused at the head; no chunked trailer field ever appears among an accepted
// request's fields; every refusal is a 400/413/431/501 with Connection: close, after which nothing is read.
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/http.hpp>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <string>
#include <string_view>

#include "api/request_framing.h"

using namespace hookwire::api;
namespace beast = boost::beast;

namespace {

[[noreturn]] void broken(const char* what) {
  std::fprintf(stderr, "invariant broken: %s\n", what);
  std::abort();
}

void check_refusal(const Response& res, bool head_refusal) {
  const unsigned status = res.result_int();
  const bool allowed =
      head_refusal ? status == 400 || status == 501 : status == 400 || status == 413 || status == 431;
  if (!allowed) broken("a refusal with an unexpected status");
  if (res.keep_alive()) broken("a refusal that keeps the connection open");
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

// Written apart from check_head(): true when the head's Transfer-Encoding lines, split on commas (empty list
// elements ignored, RFC 9110 §5.6.1), hold exactly one coding and it is `chunked`, in HTTP/1.1 without
// Content-Length. Absent Transfer-Encoding: also true.
bool transfer_encoding_ok(const Request::header_type& head) {
  size_t codings = 0;
  bool chunked = false, any = false;
  for (const auto& f : head) {
    if (f.name() != http::field::transfer_encoding) continue;
    any = true;
    std::string_view rest(f.value().data(), f.value().size());
    while (true) {
      const size_t comma = rest.find(',');
      const std::string_view item = trim(rest.substr(0, comma));
      if (!item.empty()) {
        ++codings;
        chunked = iequals(item, "chunked");
      }
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  if (!any) return true;
  return codings == 1 && chunked && head.version() >= 11 &&
         head.find(http::field::content_length) == head.end();
}

size_t field_count(const Request::header_type& head) {
  return static_cast<size_t>(std::distance(head.begin(), head.end()));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  static constexpr size_t kBodyLimits[] = {0, 1, 64, 1024, 1 << 20};
  FramingLimits limits;
  limits.body_limit = kBodyLimits[(data[0] & 0x0f) % 5];
  limits.header_limit = data[0] & 0x10 ? 256 : 16 << 10;
  const std::string_view stream(reinterpret_cast<const char*>(data) + 3, size - 3);
  const size_t split = (size_t{data[1]} | size_t{data[2]} << 8) % (stream.size() + 1);
  std::string_view pending = stream.substr(split);

  beast::flat_buffer buffer;
  auto append = [&](std::string_view bytes) {
    auto dst = buffer.prepare(bytes.size());
    buffer.commit(boost::asio::buffer_copy(dst, boost::asio::buffer(bytes.data(), bytes.size())));
  };
  append(stream.substr(0, split));
  // The second read: false when the client has sent everything.
  auto read_more = [&] {
    if (pending.empty()) return false;
    append(pending);
    pending = {};
    return true;
  };

  for (int requests = 0; requests < 32; ++requests) {
    if (buffer.size() == 0 && !read_more()) return 0;  // the connection is idle and the client is done
    RequestParser parser;
    start_request(parser, limits);
    boost::system::error_code ec;
    while (!(ec = feed(parser, buffer)) && !parser.is_header_done())
      if (!read_more()) return 0;  // the client went away inside the head
    const unsigned version = parser.is_header_done() ? parser.get().version() : 11;
    if (ec) {
      if (auto res = read_error_response(ec, version)) check_refusal(*res, false);
      return 0;  // answered (or not) and closed
    }
    const size_t head_fields = field_count(parser.get());
    const bool te_ok = transfer_encoding_ok(parser.get());
    Framing framing;
    if (auto res = check_head(parser, framing)) {
      check_refusal(*res, true);
      return 0;
    }
    if (!te_ok) broken("a Transfer-Encoding other than exactly chunked passed the head checks");

    parser.eager(true);
    while (!(ec = feed(parser, buffer)) && !parser.is_done())
      if (!read_more()) return 0;  // the client went away inside the body
    if (ec) {
      if (ec == http::error::body_limit && !read_error_response(ec, version)) broken("413 not owed");
      if (auto res = read_error_response(ec, version)) check_refusal(*res, false);
      return 0;
    }
    if (auto res = check_complete(parser, framing)) {
      check_refusal(*res, false);
      if (field_count(parser.get()) == head_fields) broken("a request refused for trailers it did not send");
      return 0;
    }
    if (field_count(parser.get()) != head_fields) broken("a trailer field among the request's fields");
    Request req = parser.release();
    if (req.body().size() > limits.body_limit) broken("a body over the limit");
    if (const auto cl = req.find(http::field::content_length); cl != req.end() && !req.chunked())
      if (req.body().size() != std::strtoull(std::string(cl->value()).c_str(), nullptr, 10))
        broken("a body whose length is not its Content-Length");
    if (!req.keep_alive()) return 0;  // the server answers and closes
  }
  return 0;
}
