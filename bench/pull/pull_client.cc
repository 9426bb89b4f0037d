// bench/pull/pull_client.cc: the pull benchmark's readers, in C++ so that the harness costs little next to
// hookwire on a 2-core machine (see bench/pull/README.md). Not part of the CMake build: bench/pull/run.sh
// compiles it (one file; Boost.Asio, Boost.JSON).
//
//   pull_client readers HOST PORT TOKEN LONG_POLL SSE WAIT OUT
//       LONG_POLL long-poll consumers (applications pull-0 ..), each `GET
//       .../poller/sink?limit=250&wait=WAIT` in a loop with the returned iterator, and SSE streams on the
//       next SSE applications; all on one thread. Prints "READY" once every stream has its head and every
//       consumer its first answer; on SIGTERM or SIGINT writes OUT, one line per message received: "<msg id>
//       <arrival ns> <sent ns>" (CLOCK_MONOTONIC; the sent time is the payload's "sent" field, written by the
//       publisher, or 0), then prints RESULT lines.
//   pull_client catchup HOST PORT TOKEN APP
//       one consumer pages the whole log of APP's sink with limit=250 over one keep-alive connection, parsing
//       every page with Boost.JSON: events/s.
#include <arpa/inet.h>
#include <time.h>

#include <boost/asio.hpp>
#include <boost/json.hpp>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

namespace asio = boost::asio;
namespace json = boost::json;
using asio::ip::tcp;

namespace {

int64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

struct Arrival {
  std::string id;
  int64_t at;
  int64_t sent;
};

struct Config {
  std::string host;
  unsigned short port = 0;
  std::string token;
};

// The value of "sent": in a message's payload (the publisher's send time), or 0.
int64_t sent_of(std::string_view text) {
  auto at = text.find("\"sent\":");
  if (at == std::string_view::npos) return 0;
  return std::strtoll(text.data() + at + 7, nullptr, 10);
}

// "id":"msg_..." of a message's JSON (the first "id" key at the top level comes first in hookwire's output).
std::string id_of(std::string_view text) {
  auto at = text.find("\"id\":\"");
  if (at == std::string_view::npos) return {};
  at += 6;
  auto end = text.find('"', at);
  return std::string(text.substr(at, end - at));
}

std::string get_request(const Config& c, const std::string& target, bool sse) {
  std::string r = "GET " + target + " HTTP/1.1\r\nHost: " + c.host + ":" + std::to_string(c.port) +
                  "\r\nAuthorization: Bearer " + c.token + "\r\n";
  if (sse) r += "Accept: text/event-stream\r\n";
  return r + "\r\n";
}

// Reads one HTTP/1.1 response with a Content-Length body from `s` (bytes after it stay in `buf`).
asio::awaitable<std::pair<int, std::string>> read_response(tcp::socket& s, std::string& buf) {
  size_t head_end;
  while ((head_end = buf.find("\r\n\r\n")) == std::string::npos) {
    char tmp[65536];
    size_t n = co_await s.async_read_some(asio::buffer(tmp), asio::use_awaitable);
    buf.append(tmp, n);
  }
  int status = std::atoi(buf.c_str() + 9);
  std::string_view head(buf.data(), head_end);
  size_t length = 0;
  for (std::string_view key : {"Content-Length: ", "content-length: "}) {
    auto at = head.find(key);
    if (at != std::string_view::npos) length = std::strtoull(head.data() + at + key.size(), nullptr, 10);
  }
  size_t total = head_end + 4 + length;
  while (buf.size() < total) {
    size_t old = buf.size();
    buf.resize(std::max(total, old + 65536));
    size_t n =
        co_await s.async_read_some(asio::buffer(buf.data() + old, buf.size() - old), asio::use_awaitable);
    buf.resize(old + n);
  }
  std::string body = buf.substr(head_end + 4, length);
  buf.erase(0, total);
  co_return std::pair{status, std::move(body)};
}

struct Readers {
  Config config;
  std::vector<Arrival> arrivals;
  int pending = 0;  // connections that have not yet had their first answer
  int64_t long_poll_requests = 0;
  int64_t failures = 0;

  void ready_one() {
    if (--pending == 0) {
      std::cout << "READY" << std::endl;
    }
  }

  asio::awaitable<void> long_poll(std::string app, int wait) {
    tcp::socket s(co_await asio::this_coro::executor);
    co_await s.async_connect({asio::ip::make_address(config.host), config.port}, asio::use_awaitable);
    s.set_option(tcp::no_delay(true));
    std::string iterator, buf;
    bool first = true;
    for (;;) {
      std::string target = "/api/v1/app/" + app + "/poller/sink?limit=250&wait=" + std::to_string(wait);
      if (!iterator.empty()) target += "&iterator=" + iterator;
      // A first request that must not wait, so READY means every consumer has been answered once.
      if (first) target = "/api/v1/app/" + app + "/poller/sink?limit=250";
      co_await asio::async_write(s, asio::buffer(get_request(config, target, false)), asio::use_awaitable);
      auto [status, body] = co_await read_response(s, buf);
      int64_t at = now_ns();
      ++long_poll_requests;
      if (status != 200) {
        std::cerr << "long-poll " << app << ": " << status << " " << body.substr(0, 200) << "\n";
        ++failures;
        co_return;
      }
      json::value page = json::parse(body);
      for (const auto& m : page.at("data").as_array()) {
        const auto& o = m.as_object();
        const auto* payload = o.if_contains("payload");
        int64_t sent = 0;
        if (payload && payload->is_object()) {
          if (const auto* v = payload->as_object().if_contains("sent")) sent = v->to_number<int64_t>();
        }
        arrivals.push_back({std::string(o.at("id").as_string()), at, sent});
      }
      iterator = std::string(page.at("iterator").as_string());
      if (first) {
        first = false;
        ready_one();
      }
    }
  }

  asio::awaitable<void> sse(std::string app) {
    tcp::socket s(co_await asio::this_coro::executor);
    co_await s.async_connect({asio::ip::make_address(config.host), config.port}, asio::use_awaitable);
    s.set_option(tcp::no_delay(true));
    co_await asio::async_write(
        s, asio::buffer(get_request(config, "/api/v1/app/" + app + "/poller/sink/stream", true)),
        asio::use_awaitable);
    std::string buf;
    bool head = true;
    char tmp[65536];
    for (;;) {
      size_t n = co_await s.async_read_some(asio::buffer(tmp), asio::use_awaitable);
      int64_t at = now_ns();
      buf.append(tmp, n);
      if (head) {
        auto end = buf.find("\r\n\r\n");
        if (end == std::string::npos) continue;
        if (buf.compare(9, 3, "200") != 0) {
          std::cerr << "stream " << app << ": " << buf.substr(0, 200) << "\n";
          ++failures;
          co_return;
        }
        buf.erase(0, end + 4);
        head = false;
        ready_one();
      }
      size_t start = 0, end;
      while ((end = buf.find("\n\n", start)) != std::string::npos) {
        std::string_view event(buf.data() + start, end - start);
        auto data = event.find("\ndata: ");
        if (data != std::string_view::npos) {
          std::string_view body = event.substr(data + 7);
          arrivals.push_back({id_of(body), at, sent_of(body)});
        }
        start = end + 2;
      }
      buf.erase(0, start);
    }
  }
};

int readers(const Config& config, int long_poll, int sse, int wait, const std::string& out) {
  asio::io_context io(1);
  Readers r;
  r.config = config;
  r.arrivals.reserve(1 << 20);
  r.pending = long_poll + sse;
  auto failed = [&](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      std::cerr << "reader: " << x.what() << "\n";
      ++r.failures;
    }
  };
  for (int i = 0; i < long_poll; ++i)
    asio::co_spawn(io, r.long_poll("pull-" + std::to_string(i), wait), failed);
  for (int i = 0; i < sse; ++i) asio::co_spawn(io, r.sse("pull-" + std::to_string(long_poll + i)), failed);
  asio::signal_set signals(io, SIGTERM, SIGINT);
  signals.async_wait([&](auto, int) { io.stop(); });
  io.run();
  std::ofstream f(out);
  for (const auto& a : r.arrivals) f << a.id << ' ' << a.at << ' ' << a.sent << '\n';
  std::cout << "RESULT received=" << r.arrivals.size()
            << "\nRESULT long_poll_requests=" << r.long_poll_requests
            << "\nRESULT reader_failures=" << r.failures << std::endl;
  return r.failures ? 1 : 0;
}

int catchup(const Config& config, const std::string& app) {
  asio::io_context io(1);
  int64_t events = 0, requests = 0, bytes = 0;
  int64_t start = now_ns();
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        tcp::socket s(io);
        co_await s.async_connect({asio::ip::make_address(config.host), config.port}, asio::use_awaitable);
        s.set_option(tcp::no_delay(true));
        std::string iterator, buf;
        for (;;) {
          std::string target = "/api/v1/app/" + app + "/poller/sink?limit=250";
          if (!iterator.empty()) target += "&iterator=" + iterator;
          co_await asio::async_write(s, asio::buffer(get_request(config, target, false)),
                                     asio::use_awaitable);
          auto [status, body] = co_await read_response(s, buf);
          ++requests;
          if (status != 200)
            throw std::runtime_error("catch-up: " + std::to_string(status) + " " + body.substr(0, 200));
          bytes += int64_t(body.size());
          json::value page = json::parse(body);
          events += int64_t(page.at("data").as_array().size());
          iterator = std::string(page.at("iterator").as_string());
          if (page.at("done").as_bool()) break;
        }
      },
      [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
      });
  io.run();
  double secs = double(now_ns() - start) / 1e9;
  std::printf(
      "RESULT catchup_events=%lld\nRESULT catchup_seconds=%.2f\nRESULT catchup_events_per_s=%.0f\n"
      "RESULT catchup_requests=%lld\nRESULT catchup_mb_per_s=%.1f\n",
      (long long)events, secs, double(events) / secs, (long long)requests, double(bytes) / secs / 1e6);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> a(argv + 1, argv + argc);
  auto usage = [] {
    std::cerr << "usage: pull_client readers HOST PORT TOKEN LONG_POLL SSE WAIT OUT\n"
                 "       pull_client catchup HOST PORT TOKEN APP\n";
    return 2;
  };
  if (a.size() < 4) return usage();
  Config c{a[1], static_cast<unsigned short>(std::stoi(a[2])), a[3]};
  try {
    if (a[0] == "readers" && a.size() == 8)
      return readers(c, std::stoi(a[4]), std::stoi(a[5]), std::stoi(a[6]), a[7]);
    if (a[0] == "catchup" && a.size() == 5) return catchup(c, a[4]);
  } catch (const std::exception& e) {
    std::cerr << "pull_client: " << e.what() << "\n";
    return 1;
  }
  return usage();
}
