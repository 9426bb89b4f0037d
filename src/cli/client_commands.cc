#include "cli/client_commands.h"

#include <fmt/format.h>

#include <boost/json.hpp>
#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>

#include "cli/config_file.h"
#include "cli/server_client.h"

namespace hookwire::cli {
namespace json = boost::json;
namespace {

struct Connection {
  std::string server;  // --server / HOOKWIRE_SERVER
  std::string token;   // --token / HOOKWIRE_TOKEN
  std::string config;  // --config / HOOKWIRE_CONFIG
  std::string data_dir;
  std::string ca_file;  // --ca-file / HOOKWIRE_CA_FILE
};

void add_connection_options(CLI::App* cmd, Connection& c) {
  cmd->add_option("--server", c.server,
                  "Server URL (default: the config file's listen address, else http://127.0.0.1:8071)")
      ->envname("HOOKWIRE_SERVER");
  cmd->add_option("--ca-file", c.ca_file,
                  "https: a PEM certificate (or CA bundle) trusted besides the system's (default: the config "
                  "file's tls-cert, when the server is taken from it)")
      ->envname("HOOKWIRE_CA_FILE");
  cmd->add_option("--token", c.token,
                  "API token (default: the config file's admin-token, else the data directory's)")
      ->envname("HOOKWIRE_TOKEN");
  cmd->add_option("--config", c.config, "The serve config file to take the server and token from")
      ->envname("HOOKWIRE_CONFIG");
  cmd->add_option("--data-dir", c.data_dir,
                  "Data directory holding the generated admin token (default: hookwire-data)")
      ->envname("HOOKWIRE_DATA_DIR");
}

// A failure the command reports (to stderr, "hookwire: ...") and exits 1 with.
struct Failure {
  std::string message;
};

// The value a config-file setting gives, or "".
std::string setting(const ConfigFile& file, const std::string& key) {
  for (const auto& s : file.settings)
    if (s.key == key && s.args.size() == 2) return s.args[1];
  return "";
}

class Client {
 public:
  Client(const Connection& c, const CLI::App& serve) {
    std::string server = c.server, token = c.token, data_dir = c.data_dir, ca_file = c.ca_file;
    if (!c.config.empty()) {
      auto file = read_config_file(c.config, serve);
      if (!file) throw Failure{file.error().detail};
      if (server.empty()) {
        std::string listen = setting(*file, "listen");
        if (!listen.empty()) {
          // A wildcard address is reached on loopback.
          for (const char* any : {"0.0.0.0:", "[::]:", ":"})
            if (listen.rfind(any, 0) == 0) listen = "127.0.0.1:" + listen.substr(std::string(any).size());
          // A listener with its own certificate: https, trusting that certificate (self-signed or not).
          const std::string cert = setting(*file, "tls-cert");
          server = (cert.empty() ? "http://" : "https://") + listen;
          if (ca_file.empty()) ca_file = cert;
        }
      }
      if (token.empty()) token = setting(*file, "admin-token");
      if (data_dir.empty()) data_dir = setting(*file, "data-dir");
    }
    if (server.empty()) server = "http://127.0.0.1:8071";
    if (data_dir.empty()) data_dir = "hookwire-data";
    if (token.empty()) {
      std::ifstream in(data_dir + "/admin-token");
      std::getline(in, token);
      if (token.empty())
        throw Failure{
            fmt::format("no token: give --token (or HOOKWIRE_TOKEN), --config, or --data-dir where the "
                        "server keeps its admin token ({}/admin-token is not readable)",
                        data_dir)};
    }
    auto parsed = parse_server(server);
    if (!parsed) throw Failure{"--server " + parsed.error().detail};
    server_ = *parsed;
    server_.ca_file = ca_file;
    token_ = token;
  }

  // The answer's JSON (null for an empty body); a non-2xx answer throws with the server's detail.
  json::value call(std::string_view method, const std::string& target, std::string body = {}) const {
    auto r = call_server(server_, token_, method, target, std::move(body));
    if (!r) throw Failure{r.error().detail};
    json::value v;
    if (!r->body.empty()) {
      boost::system::error_code ec;
      v = json::parse(r->body, ec);
      if (ec) v = json::string(r->body);
    }
    if (r->status < 200 || r->status >= 300) {
      std::string detail = r->body;
      if (const auto* o = v.if_object())
        if (const auto* d = o->if_contains("detail"))
          detail = d->is_string() ? std::string(d->as_string()) : json::serialize(*d);
      throw Failure{fmt::format("{} {}: {} {}", method, target, r->status, detail)};
    }
    return v;
  }

 private:
  Server server_;
  std::string token_;
};

std::string str(const json::value& v, std::string_view key) {
  const auto* o = v.if_object();
  const auto* f = o ? o->if_contains(key) : nullptr;
  if (!f || f->is_null()) return "";
  return f->is_string() ? std::string(f->as_string()) : json::serialize(*f);
}

const json::array& data_of(const json::value& v) {
  static const json::array empty;
  const auto* o = v.if_object();
  const auto* d = o ? o->if_contains("data") : nullptr;
  return d && d->is_array() ? d->as_array() : empty;
}

// Svix MessageStatus.
std::string_view status_text(const json::value& s) {
  static constexpr std::string_view kText[] = {"success", "pending", "fail", "sending"};
  return s.is_int64() && s.as_int64() >= 0 && s.as_int64() < 4 ? kText[s.as_int64()] : "?";
}

// Runs `body`, printing a Failure as "hookwire: ..." (exit 1).
int run(const std::function<void()>& body) {
  try {
    body();
    return 0;
  } catch (const Failure& f) {
    std::fprintf(stderr, "hookwire: %s\n", f.message.c_str());
    return 1;
  } catch (const std::exception& e) {  // an answer of another shape than the API's (JSON access)
    std::fprintf(stderr, "hookwire: unexpected answer from the server: %s\n", e.what());
    return 1;
  }
}

std::string pretty(const json::value& v, int indent = 0) {
  const std::string pad(static_cast<size_t>(indent), ' ');
  if (const auto* o = v.if_object()) {
    if (o->empty()) return "{}";
    std::string out = "{\n";
    size_t i = 0;
    for (const auto& kv : *o) {
      out += pad + "  " + json::serialize(json::value(kv.key())) + ": " + pretty(kv.value(), indent + 2);
      out += ++i < o->size() ? ",\n" : "\n";
    }
    return out + pad + "}";
  }
  if (const auto* a = v.if_array()) {
    if (a->empty()) return "[]";
    std::string out = "[\n";
    for (size_t i = 0; i < a->size(); ++i)
      out += pad + "  " + pretty((*a)[i], indent + 2) + (i + 1 < a->size() ? ",\n" : "\n");
    return out + pad + "]";
  }
  return json::serialize(v);
}

}  // namespace

void add_client_commands(CLI::App& app, const CLI::App& serve, int& exit_code) {
  const CLI::App* serve_cmd = &serve;

  {  // hookwire send
    struct Flags {
      Connection c;
      std::string app, type, payload, event_id;
      std::vector<std::string> channels;
      std::optional<int> example;
      bool json_out = false;
    };
    auto f = std::make_shared<Flags>();
    auto* cmd = app.add_subcommand(
        "send", "Publish a message (its payload, or its event type's example) to an application");
    add_connection_options(cmd, f->c);
    cmd->add_option("--app", f->app, "Application id or uid")->required();
    cmd->add_option("--type", f->type, "Event type")->required();
    cmd->add_option("--payload", f->payload, "The payload: a JSON object (default {})");
    cmd->add_option("--example", f->example,
                    "Send the event type's example with this index (its schema's examples)")
        ->excludes("--payload");
    cmd->add_option("--event-id", f->event_id, "eventId (deduplicates: a second send with it is refused)");
    cmd->add_option("--channel", f->channels, "A channel (repeatable)");
    cmd->add_flag("--json", f->json_out, "Print the server's answer as JSON");
    cmd->callback([f, serve_cmd, &exit_code] {
      exit_code = run([&] {
        Client client(f->c, *serve_cmd);
        json::value payload = json::object();
        if (f->example) {
          auto et = client.call("GET", "/api/v1/event-type/" + encode_segment(f->type));
          const auto* schemas = et.as_object().if_contains("schemas");
          const json::value* examples = nullptr;
          if (schemas && schemas->is_object())
            for (const auto& kv : schemas->as_object())
              if (kv.value().is_object()) examples = kv.value().as_object().if_contains("examples");
          if (!examples || !examples->is_array() || *f->example < 0 ||
              static_cast<size_t>(*f->example) >= examples->as_array().size())
            throw Failure{fmt::format("event type {} has no example {} (its schema's \"examples\")", f->type,
                                      *f->example)};
          payload = examples->as_array()[static_cast<size_t>(*f->example)];
        } else if (!f->payload.empty()) {
          boost::system::error_code ec;
          payload = json::parse(f->payload, ec);
          if (ec || !payload.is_object()) throw Failure{"--payload must be a JSON object"};
        }
        json::object in{{"eventType", f->type}, {"payload", payload}};
        if (!f->event_id.empty()) in["eventId"] = f->event_id;
        if (!f->channels.empty()) in["channels"] = json::value_from(f->channels);
        auto out = client.call("POST", "/api/v1/app/" + encode_segment(f->app) + "/msg", json::serialize(in));
        if (f->json_out) {
          std::printf("%s\n", json::serialize(out).c_str());
        } else {
          std::printf("sent %s  %s  to %s\n", str(out, "id").c_str(), f->type.c_str(), f->app.c_str());
        }
      });
    });
  }

  {  // hookwire messages
    struct Flags {
      Connection c;
      std::string app, type;
      int limit = 20;
      bool json_out = false;
    };
    auto f = std::make_shared<Flags>();
    auto* cmd = app.add_subcommand(
        "messages", "Recent messages of an application, newest first, with their delivery status");
    add_connection_options(cmd, f->c);
    cmd->add_option("--app", f->app, "Application id or uid")->required();
    cmd->add_option("--type", f->type, "Only this event type");
    cmd->add_option("--limit", f->limit, "How many (at most 250)")
        ->check(CLI::Range(1, 250))
        ->capture_default_str();
    cmd->add_flag("--json", f->json_out, "Print JSON lines: each message with its endpoints' statuses");
    cmd->callback([f, serve_cmd, &exit_code] {
      exit_code = run([&] {
        Client client(f->c, *serve_cmd);
        const std::string app_path = "/api/v1/app/" + encode_segment(f->app);
        std::string query = fmt::format("?limit={}&with_content=false", f->limit);
        if (!f->type.empty()) query += "&event_types=" + encode_segment(f->type);
        auto page = client.call("GET", app_path + "/msg" + query);
        for (const auto& m : data_of(page)) {
          const std::string id = str(m, "id");
          auto endpoints = client.call("GET", app_path + "/msg/" + encode_segment(id) + "/endpoint");
          if (f->json_out) {
            json::object line{{"message", m}, {"endpoints", data_of(endpoints)}};
            std::printf("%s\n", json::serialize(line).c_str());
            continue;
          }
          std::map<std::string_view, int> counts;
          for (const auto& e : data_of(endpoints))
            ++counts[status_text(e.as_object().contains("status") ? e.at("status") : json::value())];
          std::string summary;
          for (const auto& [s, n] : counts)
            summary += fmt::format("{}{} {}", summary.empty() ? "" : ", ", n, s);
          std::printf("%s  %s  %-24s  %s\n", str(m, "timestamp").c_str(), id.c_str(),
                      str(m, "eventType").c_str(), summary.empty() ? "no endpoint" : summary.c_str());
        }
      });
    });
  }

  {  // hookwire message ID
    struct Flags {
      Connection c;
      std::string app, id;
      bool json_out = false;
    };
    auto f = std::make_shared<Flags>();
    auto* cmd = app.add_subcommand("message",
                                   "One message (by id or eventId): its payload and every delivery attempt");
    add_connection_options(cmd, f->c);
    cmd->add_option("--app", f->app, "Application id or uid")->required();
    cmd->add_option("id", f->id, "Message id or eventId")->required();
    cmd->add_flag("--json", f->json_out, "Print JSON: the message and its attempts");
    cmd->callback([f, serve_cmd, &exit_code] {
      exit_code = run([&] {
        Client client(f->c, *serve_cmd);
        const std::string app_path = "/api/v1/app/" + encode_segment(f->app);
        auto m = client.call("GET", app_path + "/msg/" + encode_segment(f->id) + "?with_content=true");
        const std::string id = str(m, "id");
        auto attempts = client.call("GET", app_path + "/attempt/msg/" + encode_segment(id) + "?limit=250");
        if (f->json_out) {
          std::printf("%s\n",
                      json::serialize(json::object{{"message", m}, {"attempts", data_of(attempts)}}).c_str());
          return;
        }
        std::printf("message    %s\nevent type %s\nevent id   %s\ncreated    %s\npayload    %s\n", id.c_str(),
                    str(m, "eventType").c_str(), str(m, "eventId").empty() ? "-" : str(m, "eventId").c_str(),
                    str(m, "timestamp").c_str(),
                    pretty(m.as_object().contains("payload") ? m.at("payload") : json::value()).c_str());
        if (data_of(attempts).empty()) std::printf("attempts   none yet\n");
        for (const auto& a : data_of(attempts))
          std::printf("attempt    %s  %s  %-7s  HTTP %s  %sms  %s\n", str(a, "timestamp").c_str(),
                      str(a, "endpointId").c_str(), std::string(status_text(a.at("status"))).c_str(),
                      str(a, "responseStatusCode").c_str(), str(a, "responseDurationMs").c_str(),
                      str(a, "triggerType") == "1" ? "manual" : "scheduled");
      });
    });
  }

  {  // hookwire resend
    struct Flags {
      Connection c;
      std::string app, endpoint, id;
    };
    auto f = std::make_shared<Flags>();
    auto* cmd = app.add_subcommand("resend", "Send a message to an endpoint again, now (a manual attempt)");
    add_connection_options(cmd, f->c);
    cmd->add_option("--app", f->app, "Application id or uid")->required();
    cmd->add_option("--endpoint", f->endpoint, "Endpoint id or uid")->required();
    cmd->add_option("id", f->id, "Message id or eventId")->required();
    cmd->callback([f, serve_cmd, &exit_code] {
      exit_code = run([&] {
        Client client(f->c, *serve_cmd);
        client.call("POST", "/api/v1/app/" + encode_segment(f->app) + "/msg/" + encode_segment(f->id) +
                                "/endpoint/" + encode_segment(f->endpoint) + "/resend");
        std::printf("resending %s to %s\n", f->id.c_str(), f->endpoint.c_str());
      });
    });
  }

  {  // hookwire recover
    struct Flags {
      Connection c;
      std::string app, endpoint, since, until;
    };
    auto f = std::make_shared<Flags>();
    auto* cmd = app.add_subcommand("recover", "Send an endpoint's failed messages again, since a time");
    add_connection_options(cmd, f->c);
    cmd->add_option("--app", f->app, "Application id or uid")->required();
    cmd->add_option("--endpoint", f->endpoint, "Endpoint id or uid")->required();
    cmd->add_option("--since", f->since, "From this time (RFC 3339, e.g. 2026-12-01T00:00:00Z)")->required();
    cmd->add_option("--until", f->until, "Up to this time (default: now)");
    cmd->callback([f, serve_cmd, &exit_code] {
      exit_code = run([&] {
        Client client(f->c, *serve_cmd);
        json::object in{{"since", f->since}};
        if (!f->until.empty()) in["until"] = f->until;
        auto out = client.call(
            "POST",
            "/api/v1/app/" + encode_segment(f->app) + "/endpoint/" + encode_segment(f->endpoint) + "/recover",
            json::serialize(in));
        std::printf("recovering %s message(s) to %s\n", str(out, "recovered").c_str(), f->endpoint.c_str());
      });
    });
  }
}

}  // namespace hookwire::cli
