// check_head() on heads parsed by the server's parser set-up, without sockets.
#include "api/request_framing.h"

#include <gtest/gtest.h>

#include <string_view>

namespace hookwire::api {
namespace {

// The head of `text` parsed as the server parses it, then check_head's answer (nullopt: accepted).
std::optional<Response> head_check(std::string_view text) {
  RequestParser parser;
  start_request(parser, FramingLimits{});
  boost::beast::flat_buffer buffer;
  buffer.commit(boost::asio::buffer_copy(buffer.prepare(text.size()), boost::asio::buffer(text)));
  EXPECT_FALSE(feed(parser, buffer));
  EXPECT_TRUE(parser.is_header_done());
  Framing framing;
  return check_head(parser, framing);
}

// fuzz/fuzz_http_request.cc found "Transfer-Encoding: chunked HTTP/1.1" accepted as chunked: Beast's
// token_list stops at the first malformed list element, so check_head saw a lone `chunked` while another hop
// may not.
TEST(RequestFraming, RefusesATransferEncodingThatIsNotAListOfTokens) {
  for (std::string_view te :
       {"chunked HTTP/1.1", "chunked;x=1", "chunked x", "gzip chunked", "chunked, \"x\""}) {
    const std::string text =
        "POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: " + std::string(te) + "\r\n\r\n0\r\n\r\n";
    auto res = head_check(text);
    ASSERT_TRUE(res) << te;
    EXPECT_EQ(res->result_int(), 400) << te;
    EXPECT_FALSE(res->keep_alive()) << te;
  }
}

TEST(RequestFraming, AcceptsExactlyOneChunkedCoding) {
  for (std::string_view te : {"chunked", "Chunked", " chunked ", ",chunked,", "chunked\t"}) {
    const std::string text =
        "POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: " + std::string(te) + "\r\n\r\n0\r\n\r\n";
    EXPECT_FALSE(head_check(text)) << te;
  }
}

}  // namespace
}  // namespace hookwire::api
