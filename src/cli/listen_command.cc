#include "cli/listen_command.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <boost/url.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "api/v1/json_body.h"
#include "cli/server_client.h"
#include "core/clock.h"
#include "core/names.h"
#include "delivery/http_client.h"
#include "hookwire/signing.h"

namespace hookwire::cli {

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

constexpr auto kUse = net::as_tuple(net::use_awaitable);
constexpr auto kBackoffFirst = 200ms;
constexpr auto kBackoffMax = 2s;
// The server writes a heartbeat every 15 s while idle: three missed ones and the stream is taken for dead.
constexpr auto kStreamSilence = 45s;
constexpr auto kCallTimeout = 30s;
constexpr size_t kMaxEventBytes =
    64 << 20;  // one event's text (a payload is at most the server's body limit)

struct ListenFlags {
  std::string server;
  std::string ca_file;
  std::string token;
  std::string app;
  std::string sink;
  std::string source;
  std::string forward_to;
  std::vector<std::string> events;
  std::string consumer = "listen";
  std::string secret_file;
  bool print_secret = false;
  bool pass_headers = false;
};

signing::Options standard(const std::string& secret) {
  signing::Options o;
  o.scheme = signing::Scheme::kStandard;
  o.secrets = {secret};
  return o;
}

// ---- The secret: one whsec_ kept in a 0600 file, so the local service verifies the same secret every run.

std::string default_secret_file() {
  if (const char* xdg = std::getenv("XDG_CONFIG_HOME"); xdg && *xdg)
    return std::string(xdg) + "/hookwire/listen-secret";
  if (const char* home = std::getenv("HOME"); home && *home)
    return std::string(home) + "/.config/hookwire/listen-secret";
  return {};
}

Result<std::string> load_or_create_secret(const std::string& path) {
  if (path.empty())
    return Error::bad_request("no place for the listen secret: set --secret-file, XDG_CONFIG_HOME or HOME");
  std::ifstream in(path);
  if (in) {
    std::string secret;
    std::getline(in, secret);
    if (!secret.empty() && secret.back() == '\r') secret.pop_back();
    if (auto s = signing::Signer::create(standard(secret)); !s || !secret.starts_with("whsec_"))
      return Error::bad_request(
          fmt::format("{} does not hold a whsec_ secret{}", path, s ? "" : ": " + s.error()));
    ::chmod(path.c_str(), 0600);  // narrowed if it was readable by others
    return secret;
  }
  const auto dir = std::filesystem::path(path).parent_path();
  std::error_code ec;
  if (!dir.empty()) {
    std::filesystem::create_directories(dir, ec);
    if (ec) return Error::bad_request(fmt::format("cannot create {}: {}", dir.string(), ec.message()));
  }
  const std::string secret = signing::generate_secret();
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return Error::bad_request(fmt::format("cannot create {}: {}", path, std::strerror(errno)));
  const std::string line = secret + "\n";
  const bool ok =
      ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) return Error::bad_request(fmt::format("cannot write {}", path));
  return secret;
}

// ---- The server: plain HTTP/1.1 calls and the event stream.

// Reads server-sent events from a byte stream (lines end in "\n" or "\r\n").
class SseParser {
 public:
  struct Event {
    std::string id;
    std::string type = "message";
    std::string data;
  };
  // False: an event grew past kMaxEventBytes.
  bool feed(std::string_view bytes, std::vector<Event>& out) {
    pending_.append(bytes);
    size_t start = 0;
    for (;;) {
      const auto nl = pending_.find('\n', start);
      if (nl == std::string::npos) break;
      std::string_view line(pending_.data() + start, nl - start);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      take_line(line, out);
      start = nl + 1;
    }
    pending_.erase(0, start);
    return pending_.size() + current_.data.size() <= kMaxEventBytes;
  }

 private:
  void take_line(std::string_view line, std::vector<Event>& out) {
    if (line.empty()) {
      if (has_data_) {
        if (!current_.data.empty() && current_.data.back() == '\n') current_.data.pop_back();
        out.push_back(std::move(current_));
      }
      current_ = Event{};
      has_data_ = false;
      return;
    }
    if (line.front() == ':') return;  // a comment (heartbeat)
    const auto colon = line.find(':');
    std::string_view field = line.substr(0, colon);
    std::string_view value = colon == std::string_view::npos ? std::string_view() : line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    if (field == "data") {
      current_.data.append(value);
      current_.data += '\n';
      has_data_ = true;
    } else if (field == "event") {
      current_.type = std::string(value);
    } else if (field == "id") {
      current_.id = std::string(value);
    }
  }

  std::string pending_;
  Event current_;
  bool has_data_ = false;
};

std::string now_text() { return format_iso8601(std::chrono::system_clock::now()); }

void out_line(const std::string& line) {
  std::fputs(line.c_str(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}
void err_line(const std::string& line) {
  std::fprintf(stderr, "hookwire listen: %s\n", line.c_str());
  std::fflush(stderr);
}

// A stop (fatal) error ends the command with exit code 1.
struct Fatal {
  std::string message;
};

class Listener {
 public:
  Listener(net::io_context& ioc, ListenFlags flags, Server server, signing::Signer signer,
           std::unique_ptr<delivery::HttpClient> client)
      : ioc_(ioc),
        flags_(std::move(flags)),
        server_(std::move(server)),
        signer_(std::move(signer)),
        client_(std::move(client)),
        events_(flags_.events.begin(), flags_.events.end()) {}

  // Runs until stopped (never returns normally) or a fatal error (returns it).
  net::awaitable<std::optional<Fatal>> run() {
    try {
      co_await resolve_sink();
      err_line(fmt::format("forwarding application {} (sink {}) to {} as consumer {}", app_, flags_.sink,
                           flags_.forward_to, flags_.consumer));
      auto backoff = std::chrono::milliseconds(kBackoffFirst);
      for (;;) {
        const bool got_events = co_await stream_once();
        backoff = got_events ? std::chrono::milliseconds(kBackoffFirst)
                             : std::min<std::chrono::milliseconds>(backoff * 2, kBackoffMax);
        err_line(fmt::format("stream ended; reconnecting in {} ms", backoff.count()));
        co_await pause(backoff);
      }
    } catch (const Fatal& f) {
      co_return f;
    }
  }

 private:
  net::awaitable<void> pause(std::chrono::milliseconds d) {
    net::steady_timer t(ioc_, d);
    co_await t.async_wait(kUse);
  }

  // One HTTP call to the server over a new connection. An error: no answer (connection failed, timed out,
  // certificate not trusted); a --ca-file that does not load is fatal.
  net::awaitable<Result<CallResult>> call(http::verb verb, std::string target, std::string body) {
    auto res = co_await call_server_async(server_, flags_.token, http::to_string(verb), target,
                                          std::move(body), "hookwire-listen");
    if (!res && res.error().code == Errc::kValidation) throw Fatal{res.error().detail};
    co_return res;
  }

  // The application (and for --source, the source's application) and the sink; retried while the server
  // does not answer; refused (fatal) when it says no.
  net::awaitable<void> resolve_sink() {
    if (flags_.source.empty()) {
      app_ = flags_.app;
      co_return;
    }
    auto backoff = std::chrono::milliseconds(kBackoffFirst);
    for (;;) {
      auto res = co_await call(http::verb::get, "/api/v1/source/" + encode_segment(flags_.source), {});
      if (res && res->status == 200) {
        boost::system::error_code ec;
        auto v = json::parse(res->body, ec);
        const auto* app = !ec && v.is_object() ? v.as_object().if_contains("appId") : nullptr;
        if (!app || !app->is_string() || !is_token(app->as_string()))
          throw Fatal{"the server's answer for the source has no appId"};
        app_ = std::string(app->as_string());
        co_return;
      }
      if (res && res->status < 500)
        throw Fatal{fmt::format("source {}: HTTP {}", flags_.source, res->status)};
      err_line(fmt::format("cannot reach {} ({}); retrying", flags_.server,
                           res ? fmt::format("HTTP {}", res->status) : res.error().detail));
      co_await pause(backoff);
      backoff = std::min<std::chrono::milliseconds>(backoff * 2, kBackoffMax);
    }
  }

  // One connection to the stream: true if it delivered at least one event.
  net::awaitable<bool> stream_once() {
    std::string target = fmt::format("/api/v1/app/{}/poller/{}/stream?consumer={}", encode_segment(app_),
                                     encode_segment(flags_.sink), encode_segment(flags_.consumer));
    if (events_.size() == 1) target += "&event_type=" + encode_segment(*events_.begin());
    auto opened = co_await ServerStream::open(ioc_.get_executor(), server_, kCallTimeout);
    if (!opened) {
      if (opened.error().code == Errc::kValidation) throw Fatal{opened.error().detail};
      err_line(opened.error().detail);
      co_return false;
    }
    auto& conn = **opened;
    auto& stream = conn.tcp();  // the deadlines
    http::request<http::empty_body> req{http::verb::get, server_.prefix + target, 11};
    req.set(http::field::host, server_.host);
    req.set(http::field::authorization, "Bearer " + flags_.token);
    req.set(http::field::accept, "text/event-stream");
    req.set(http::field::user_agent, "hookwire-listen");
    auto [wec, wn] = co_await conn.on_stream([&](auto& s) { return http::async_write(s, req, kUse); });
    if (wec) co_return false;
    beast::flat_buffer buffer;
    http::response_parser<http::buffer_body> parser;
    parser.body_limit(boost::none);
    auto [hec, hn] =
        co_await conn.on_stream([&](auto& s) { return http::async_read_header(s, buffer, parser, kUse); });
    if (hec) co_return false;
    const unsigned status = parser.get().result_int();
    if (status != 200) {
      if (status >= 500) {
        err_line(fmt::format("the server answered HTTP {}", status));
        co_return false;
      }
      throw Fatal{fmt::format("the stream was refused: HTTP {}", status)};
    }
    err_line("connected");
    bool got = false;
    SseParser sse;
    std::array<char, 16 << 10> chunk;
    for (;;) {
      parser.get().body().data = chunk.data();
      parser.get().body().size = chunk.size();
      stream.expires_after(kStreamSilence);
      // read_some: what has arrived (async_read would wait for the whole buffer to fill).
      auto [ec, n] =
          co_await conn.on_stream([&](auto& s) { return http::async_read_some(s, buffer, parser, kUse); });
      const size_t got_bytes = chunk.size() - parser.get().body().size;
      std::vector<SseParser::Event> events;
      if (!sse.feed(std::string_view(chunk.data(), got_bytes), events)) {
        err_line("an event from the server is too large");
        co_return got;
      }
      stream.expires_never();
      for (auto& e : events) {
        if (e.type == "close") {  // the server is stopping, or no longer admits the token
          err_line(fmt::format("the server closed the stream ({})", close_reason(e.data)));
          co_return got;
        }
        if (e.type != "message") continue;
        co_await handle(e.data);
        got = true;
      }
      if (ec == http::error::need_buffer) continue;
      if (ec || parser.is_done()) co_return got;
    }
  }

  // The `reason` of an `event: close` ("shutdown", "unauthorized"), printed only if it is a plain token.
  static std::string close_reason(const std::string& data) {
    boost::system::error_code ec;
    auto v = json::parse(data, ec);
    const json::value* reason = !ec && v.is_object() ? v.as_object().if_contains("reason") : nullptr;
    if (reason && reason->is_string() && is_token(reason->as_string()))
      return std::string(reason->as_string());
    return "no reason given";
  }

  // Forwards one event until the local service takes it, then commits its offset.
  net::awaitable<void> handle(const std::string& data) {
    boost::system::error_code ec;
    auto v = json::parse(data, ec);
    const json::object* o = !ec && v.is_object() ? &v.as_object() : nullptr;
    const json::value* id = o ? o->if_contains("id") : nullptr;
    const json::value* type = o ? o->if_contains("eventType") : nullptr;
    const json::value* offset = o ? o->if_contains("offset") : nullptr;
    const auto payload = o ? api::v1::raw_member(data, "payload") : std::nullopt;
    if (!id || !id->is_string() || !is_token(id->as_string()) || !type || !type->is_string() ||
        !is_token(type->as_string()) || !offset || !offset->is_int64() || !payload)
      throw Fatal{"the server sent an event that is not a message with id, eventType, payload and offset"};
    const std::string msg_id(id->as_string());
    const std::string event_type(type->as_string());
    if (events_.size() <= 1 || events_.count(event_type)) {
      delivery::Headers headers;
      if (flags_.pass_headers) {
        headers = provider_headers(*o);
      } else {
        headers.emplace_back("content-type", "application/json");
      }
      const auto [status, ms] =
          co_await forward(msg_id, event_type, std::string(*payload), std::move(headers));
      co_await commit(offset->as_int64());
      // One line per event, once it is forwarded and committed.
      out_line(fmt::format("{}  {}  {}  {}  {}ms", now_text(), event_type, msg_id, status, ms));
      co_return;
    }
    co_await commit(offset->as_int64());  // filtered out here: done as well
  }

  // The provider's headers kept with the message (an inbound source's), minus those of the connection.
  static delivery::Headers provider_headers(const json::object& o) {
    static const std::set<std::string> kConnectionHeaders = {
        "host",    "content-length", "connection", "transfer-encoding", "keep-alive", "te",
        "trailer", "upgrade",        "expect",     "proxy-connection"};
    delivery::Headers out;
    const auto* h = o.if_contains("headers");
    if (h && h->is_object()) {
      for (const auto& [k, val] : h->as_object()) {
        std::string name(k);
        std::transform(name.begin(), name.end(), name.begin(),
                       [](unsigned char c) { return std::tolower(c); });
        if (!val.is_string() || kConnectionHeaders.count(name)) continue;
        out.emplace_back(std::move(name), std::string(val.as_string()));
      }
    }
    if (std::none_of(out.begin(), out.end(), [](const auto& p) { return p.first == "content-type"; }))
      out.emplace_back("content-type", "application/json");
    return out;
  }

  // Forwards until the local service answers 2xx; returns that status and the latency of that attempt.
  net::awaitable<std::pair<unsigned, int64_t>> forward(const std::string& msg_id,
                                                       const std::string& event_type, std::string body,
                                                       delivery::Headers base) {
    auto backoff = std::chrono::milliseconds(kBackoffFirst);
    for (;;) {
      delivery::HttpRequest req;
      req.url = flags_.forward_to;
      req.headers = base;
      if (!flags_.pass_headers) {
        const int64_t ts = std::chrono::duration_cast<std::chrono::seconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
        for (auto& h : signer_.sign({msg_id, ts, body})) req.headers.emplace_back(h.name, h.value);
      }
      req.body = body;
      const auto started = std::chrono::steady_clock::now();
      auto res = co_await client_->post(std::move(req));
      const auto ms =
          std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started)
              .count();
      if (!res && (res.error().kind == delivery::FailureKind::kInvalidUrl ||
                   res.error().kind == delivery::FailureKind::kInvalidRequest))
        throw Fatal{fmt::format("cannot forward {}: {}", msg_id, res.error().message)};
      const std::string status =
          res ? std::to_string(res->status) : std::string(delivery::to_string(res.error().kind));
      if (res && res->status / 100 == 2) co_return std::pair<unsigned, int64_t>{res->status, ms};
      out_line(fmt::format("{}  {}  {}  {}  {}ms  retry in {}ms", now_text(), event_type, msg_id, status, ms,
                           backoff.count()));
      co_await pause(backoff);
      backoff = std::min<std::chrono::milliseconds>(backoff * 2, kBackoffMax);
    }
  }

  // Commits `offset` (retried while the server does not answer: a restart of the server resumes after it).
  net::awaitable<void> commit(int64_t offset) {
    const std::string target =
        fmt::format("/api/v1/app/{}/polling-endpoint/{}/consumer/{}/commit", encode_segment(app_),
                    encode_segment(flags_.sink), encode_segment(flags_.consumer));
    auto backoff = std::chrono::milliseconds(kBackoffFirst);
    for (;;) {
      auto res = co_await call(http::verb::post, target, fmt::format("{{\"offset\":{}}}", offset));
      if (res && res->status / 100 == 2) co_return;
      if (res && res->status < 500) {
        // Not retried: the server will not take it (e.g. the consumer was reset); the stream goes on.
        err_line(fmt::format("commit of offset {} refused: HTTP {}", offset, res->status));
        co_return;
      }
      err_line(fmt::format("commit of offset {} failed ({}); retrying", offset,
                           res ? fmt::format("HTTP {}", res->status) : res.error().detail));
      co_await pause(backoff);
      backoff = std::min<std::chrono::milliseconds>(backoff * 2, kBackoffMax);
    }
  }

  net::io_context& ioc_;
  const ListenFlags flags_;
  const Server server_;
  const signing::Signer signer_;
  std::unique_ptr<delivery::HttpClient> client_;
  const std::set<std::string> events_;
  std::string app_;
};

int listen(ListenFlags flags) {
  if (flags.secret_file.empty()) flags.secret_file = default_secret_file();
  auto secret = load_or_create_secret(flags.secret_file);
  if (!secret) {
    err_line(secret.error().detail);
    return 1;
  }
  if (flags.print_secret) {
    out_line(*secret);
    return 0;
  }
  if (flags.server.empty() || flags.token.empty() || flags.forward_to.empty()) {
    err_line("--server, --token and --forward-to are required");
    return 2;
  }
  auto server = parse_server(flags.server);
  if (!server) {
    err_line("--server must be an http:// or https:// URL (e.g. http://127.0.0.1:8071)");
    return 2;
  }
  server->ca_file = flags.ca_file;
  if (flags.source.empty() == flags.app.empty()) {
    err_line("give --app (with --sink) or --source");
    return 2;
  }
  if (flags.sink.empty()) flags.sink = "pull";
  if (!flags.source.empty() && !is_token(flags.source)) {
    err_line("--source must be a source id or uid");
    return 2;
  }
  if (flags.pass_headers && flags.source.empty()) {
    err_line("--pass-headers needs --source (only an inbound source's messages keep the provider's headers)");
    return 2;
  }
  for (const auto* v : {&flags.app, &flags.sink, &flags.consumer})
    if (!v->empty() && !is_token(*v)) {
      err_line(fmt::format("'{}' is not a valid id (letters, digits, - _ .)", *v));
      return 2;
    }
  for (const auto& e : flags.events)
    if (!is_token(e)) {
      err_line(fmt::format("--events: '{}' is not an event type name", e));
      return 2;
    }
  auto signer = signing::Signer::create(standard(*secret));
  if (!signer) {
    err_line(signer.error());
    return 1;
  }

  net::io_context ioc{1};
  // The local service is the user's choice: every address is allowed, loopback and private ones included.
  auto guard = delivery::UrlGuard::from_config({"0.0.0.0/0", "::/0"}, false);
  if (auto url = guard->validate_url(flags.forward_to); !url) {
    err_line(fmt::format("--forward-to: {}", url.error().detail));
    return 2;
  }
  delivery::HttpClientOptions copts;
  copts.guard = std::move(*guard);
  copts.total_timeout = 30s;
  copts.user_agent = "hookwire-listen";
  auto client = delivery::HttpClient::create(ioc.get_executor(), std::move(copts));
  if (!client) {
    err_line(client.error().detail);
    return 1;
  }
  if (flags.pass_headers) {
    out_line(
        "hookwire listen: passing the provider's own headers (its signature verifies the body); no "
        "signature of hookwire's");
  } else {
    out_line(fmt::format("hookwire listen: signing with {} (Standard Webhooks; kept in {})", *secret,
                         flags.secret_file));
  }
  Listener listener(ioc, std::move(flags), std::move(*server), std::move(signer).value(), std::move(*client));
  int code = 0;
  net::co_spawn(ioc, listener.run(), [&](std::exception_ptr e, std::optional<Fatal> fatal) {
    if (e) {
      err_line("internal error");
      code = 1;
    } else if (fatal) {
      err_line(fatal->message);
      code = 1;
    }
    ioc.stop();
  });
  net::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](boost::system::error_code ec, int) {
    if (ec) return;
    err_line("stopped");
    ioc.stop();
  });
  ioc.run();
  return code;
}

}  // namespace

void add_listen_command(CLI::App& app, int& exit_code) {
  auto flags = std::make_shared<ListenFlags>();
  auto* cmd = app.add_subcommand(
      "listen",
      "Forward an application's (or inbound source's) events to a local service, signed; no tunnel");
  cmd->add_option("--server", flags->server, "hookwire server URL (http://HOST:PORT or https://HOST:PORT)")
      ->envname("HOOKWIRE_LISTEN_SERVER");
  cmd->add_option("--ca-file", flags->ca_file,
                  "https: a PEM certificate (or CA bundle) trusted besides the system's, e.g. the server's "
                  "self-signed certificate")
      ->envname("HOOKWIRE_CA_FILE");
  cmd->add_option("--token", flags->token, "API token that may read the sink (admin, app or sk_poll_ key)")
      ->envname("HOOKWIRE_LISTEN_TOKEN");
  cmd->add_option("--app", flags->app, "Application id or uid")->envname("HOOKWIRE_LISTEN_APP");
  cmd->add_option("--sink", flags->sink, "Endpoint (id or uid) read as the sink (default: pull)")
      ->envname("HOOKWIRE_LISTEN_SINK");
  cmd->add_option("--source", flags->source, "Inbound source (id or uid): its application, through sink pull")
      ->envname("HOOKWIRE_LISTEN_SOURCE")
      ->excludes("--app")
      ->excludes("--sink");
  cmd->add_option("--forward-to", flags->forward_to, "Local URL each event is POSTed to")
      ->envname("HOOKWIRE_LISTEN_FORWARD_TO");
  cmd->add_option("--events", flags->events, "Only these event types (comma-separated)")
      ->envname("HOOKWIRE_LISTEN_EVENTS")
      ->delimiter(',');
  cmd->add_option("--consumer", flags->consumer, "Server-held cursor name (resumes after its last commit)")
      ->envname("HOOKWIRE_LISTEN_CONSUMER");
  cmd->add_option(
         "--secret-file", flags->secret_file,
         "whsec_ secret file (created 0600; default $XDG_CONFIG_HOME or ~/.config/hookwire/listen-secret)")
      ->envname("HOOKWIRE_LISTEN_SECRET_FILE");
  cmd->add_flag("--print-secret", flags->print_secret, "Print the signing secret and exit");
  cmd->add_flag("--pass-headers", flags->pass_headers,
                "With --source: send the provider's own headers instead of Standard Webhooks signatures");
  cmd->callback([flags, &exit_code] { exit_code = listen(*flags); });
}

}  // namespace hookwire::cli
