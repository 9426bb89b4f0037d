#include "cli/serve_command.h"

#include <fmt/format.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "app/app.h"
#include "app/logging.h"
#include "cli/config_file.h"

namespace hookwire::cli {

namespace {

struct ServeFlags {
  std::string config;
  bool check_config = false;
  std::string listen = "127.0.0.1:8071";
  std::string public_listen;
  std::string tls_cert;
  std::string tls_key;
  std::string public_tls_cert;
  std::string public_tls_key;
  std::string data_dir = "hookwire-data";
  std::string admin_token;
  std::string metrics_token;
  std::string metrics_token_file;
  std::string log_format = "text";
  std::string log_level = "info";
  std::string durability = "full";
  std::string store = "sqlite";
  std::string store_notify = "on";
  size_t body_limit = 1 << 20;
  size_t max_connections = 10'000;
  int threads = 0;
  int request_timeout_ms = 30'000;
  int idle_timeout_ms = 75'000;
  int first_byte_timeout_ms = 10'000;
  size_t unauthenticated_body_budget = 64 << 20;
  size_t max_streams = 1000;
  int idempotency_ttl_hours = 24;
  int retention_days = 30;
  std::vector<std::string> delivery_allow_cidrs;
  std::vector<std::string> portal_frame_ancestors;
  bool delivery_https_only = false;
  std::string delivery_ca_file;
  std::string retry_schedule;
  int retry_overload_floor_seconds = 60;
  int delivery_timeout_ms = 15'000;
  int delivery_lease_margin_ms = 30'000;
  std::string signature_headers = "webhook";
  int endpoint_disable_after_hours = 120;
  std::string operational_webhook_url;
  std::string operational_webhook_secret;
  std::string public_url;
  std::string delivery = "on";
};

// "host:port", "[v6]:port" or ":port".
bool split_listen(const std::string& listen, std::string& host, uint16_t& port) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos) return false;
  host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty()) host = "0.0.0.0";
  try {
    size_t used = 0;
    int p = std::stoi(listen.substr(colon + 1), &used);
    if (used != listen.size() - colon - 1 || p < 0 || p > 65535) return false;
    port = static_cast<uint16_t>(p);
  } catch (...) {
    return false;
  }
  return true;
}

// --check-config: the settings are parsed (config file included) and checked as a start would check them,
// without opening the data directory or binding the address. 0 when all is well, 1 otherwise.
int check_config(const ServeFlags& flags, app::AppOptions& options, const CLI::App& command);

// The config file's sources, checked as App::start() will check them: the first error names the file and
// line of the field it is about.
Status check_sources(const ConfigFile& file, const app::AppOptions& options) {
  for (const auto& src : file.sources) {
    auto st = app::check_config_source(src.json, options);
    if (st) continue;
    std::string field = st.error().field;
    if (field.rfind("source.", 0) == 0) field.erase(0, 7);
    auto at = src.places.find(field);
    if (at == src.places.end()) at = src.places.find(field.substr(0, field.find('.')));
    const std::string& place = at == src.places.end() ? src.place : at->second;
    return Error::validation("config", fmt::format("{}: [source.{}] {}: {}", place, src.uid,
                                                   field.empty() ? "source" : field, st.error().detail));
  }
  return {};
}

int serve(const ServeFlags& flags, const CLI::App& command) {
  const int usage_error = flags.check_config ? 1 : 2;  // --check-config exits 0 or 1
  // Signals are taken synchronously by this thread (sigwait); every other thread inherits the blocked mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);  // reloads the TLS certificates
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  if (auto st = app::setup_logging(flags.log_format == "json" ? app::LogFormat::kJson : app::LogFormat::kText,
                                   flags.log_level);
      !st) {
    fmt::print(stderr, "hookwire: {}\n", st.error().detail);
    return usage_error;
  }
  // Before any thread or file is opened: every client connection is a descriptor (the cap is sized to the
  // limit in App::start, which says so in the log).
  app::raise_open_file_limit();
  app::AppOptions options;
  if (!split_listen(flags.listen, options.host, options.port)) {
    fmt::print(stderr, "hookwire: --listen must be host:port, got \"{}\"\n", flags.listen);
    return usage_error;
  }
  if (!flags.public_listen.empty()) {
    std::string host;
    if (!split_listen(flags.public_listen, host, options.public_port)) {
      fmt::print(stderr, "hookwire: --public-listen must be host:port, got \"{}\"\n", flags.public_listen);
      return usage_error;
    }
    options.public_host = std::move(host);
  }
  options.tls_cert = flags.tls_cert;
  options.tls_key = flags.tls_key;
  options.public_tls_cert = flags.public_tls_cert;
  options.public_tls_key = flags.public_tls_key;
  options.data_dir = flags.data_dir;
  options.durability = flags.durability == "normal" ? store::Durability::kNormal : store::Durability::kFull;
  if (flags.store != "sqlite") options.store_url = flags.store;
  options.store_notify = flags.store_notify == "on";
  options.threads = flags.threads;
  options.body_limit = flags.body_limit;
  options.max_connections = flags.max_connections;
  options.request_timeout = std::chrono::milliseconds{flags.request_timeout_ms};
  options.idle_timeout = std::chrono::milliseconds{flags.idle_timeout_ms};
  options.first_byte_timeout = std::chrono::milliseconds{flags.first_byte_timeout_ms};
  options.unauthenticated_body_budget = flags.unauthenticated_body_budget;
  options.max_streams = flags.max_streams;
  options.idempotency_ttl = std::chrono::hours{flags.idempotency_ttl_hours};
  options.retention_days = flags.retention_days;
  options.delivery_allow_cidrs = flags.delivery_allow_cidrs;
  options.portal_frame_ancestors = flags.portal_frame_ancestors;
  options.delivery_https_only = flags.delivery_https_only;
  options.delivery_ca_file = flags.delivery_ca_file;
  options.retry_schedule = flags.retry_schedule;
  options.retry_overload_floor = std::chrono::seconds{flags.retry_overload_floor_seconds};
  options.delivery_timeout = std::chrono::milliseconds{flags.delivery_timeout_ms};
  options.delivery_lease_margin = std::chrono::milliseconds{flags.delivery_lease_margin_ms};
  options.svix_headers = flags.signature_headers == "svix";
  options.endpoint_disable_after = std::chrono::hours{flags.endpoint_disable_after_hours};
  options.deliver = flags.delivery == "on";
  options.operational_webhook_url = flags.operational_webhook_url;
  if (!flags.operational_webhook_secret.empty())
    options.operational_webhook_secret = flags.operational_webhook_secret;
  if (!flags.public_url.empty()) {
    auto base = app::public_base_url(flags.public_url);
    if (!base) {
      fmt::print(stderr, "hookwire: {}: {}\n", base.error().field, base.error().detail);
      return usage_error;
    }
    options.public_url = std::move(*base);
  }
  if (flags.check_config) return check_config(flags, options, command);
  if (!flags.config.empty()) {
    auto file = read_config_file(flags.config, command);
    if (auto st = file ? check_sources(*file, options) : Status(file.error()); !st) {
      fmt::print(stderr, "hookwire: {}\n", st.error().detail);
      return 2;
    }
    options.config_file = true;
    for (auto& src : file->sources) options.sources.push_back(std::move(src.json));
  }

  auto token = app::resolve_admin_token(flags.admin_token, options.data_dir);
  if (!token) {
    fmt::print(stderr, "hookwire: {}\n", token.error().detail);
    return 1;
  }
  options.admin_token = token->token;
  auto metrics_token = app::resolve_metrics_token(flags.metrics_token, flags.metrics_token_file);
  if (!metrics_token) {
    fmt::print(stderr, "hookwire: {}\n", metrics_token.error().detail);
    return 2;
  }
  options.metrics_token = std::move(*metrics_token);
  auto server = app::App::start(options);
  if (!server) {
    fmt::print(stderr, "hookwire: cannot start: {}\n", server.error().detail);
    return 1;
  }
  const auto ep = (*server)->endpoint();
  const std::string host =
      ep.address().is_v6() ? "[" + ep.address().to_string() + "]" : ep.address().to_string();
  if (token->generated) {
    fmt::print(stdout, "hookwire: generated an admin token (kept in {}, readable by this user only):\n  {}\n",
               token->file.string(), token->token);
  }
  // Tests and scripts read this line to find the port (with --listen 127.0.0.1:0).
  const char* scheme = options.tls_cert.empty() ? "http" : "https";
  fmt::print(stdout, "hookwire: listening on {}://{}:{}\n", scheme, host, ep.port());
  if (auto pub = (*server)->public_endpoint()) {
    const std::string public_host =
        pub->address().is_v6() ? "[" + pub->address().to_string() + "]" : pub->address().to_string();
    fmt::print(stdout, "hookwire: public listener (POST /in/{{source}}, health) on {}://{}:{}\n",
               options.public_tls_cert.empty() ? "http" : "https", public_host, pub->port());
    spdlog::info("serving the public door (POST /in/{{source}}, health) on {}:{}", public_host, pub->port());
  }
  std::fflush(stdout);
  spdlog::info(
      "serving {} on {}:{} (data directory {}, {})", "API", host, ep.port(), options.data_dir.string(),
      options.store_url.empty() ? "SQLite, durability " + flags.durability : std::string("PostgreSQL"));

  int sig = 0;
  for (;;) {
    sigwait(&signals, &sig);
    if (sig != SIGHUP) break;
    if (options.tls_cert.empty() && options.public_tls_cert.empty()) {
      spdlog::info("received SIGHUP: no TLS certificate to reload (the configuration is read only at start)");
      continue;
    }
    spdlog::info("received SIGHUP: reloading the TLS certificates");
    (void)(*server)->reload_tls();  // each outcome is logged
  }
  spdlog::info("received {}, shutting down: finishing in-flight requests",
               sig == SIGTERM ? "SIGTERM" : "SIGINT");
  (*server)->stop();
  spdlog::info("stopped cleanly");
  return 0;
}

int check_config(const ServeFlags& flags, app::AppOptions& options, const CLI::App& command) {
  auto metrics_token = app::resolve_metrics_token(flags.metrics_token, flags.metrics_token_file);
  if (!metrics_token) {
    fmt::print(stderr, "hookwire: {}\n", metrics_token.error().detail);
    return 1;
  }
  if (auto st = app::check_options(options); !st) {
    fmt::print(stderr, "hookwire: {}\n", st.error().detail);
    return 1;
  }
  size_t sources = 0;
  if (!flags.config.empty()) {
    auto file = read_config_file(flags.config, command);
    if (auto st = file ? check_sources(*file, options) : Status(file.error()); !st) {
      fmt::print(stderr, "hookwire: {}\n", st.error().detail);
      return 1;
    }
    sources = file->sources.size();
  }
  fmt::print(stdout, "hookwire: the configuration is valid ({}; {} source(s) declared)\n",
             flags.config.empty() ? "flags and environment only" : "file " + flags.config, sources);
  return 0;
}

}  // namespace

void add_serve_command(CLI::App& app, int& exit_code) {
  auto flags = std::make_shared<ServeFlags>();
  auto* cmd = app.add_subcommand("serve", "Run the hookwire server (management API) on the embedded store");
  // Applied before parsing by apply_config_file() (see config_file.h); declared here for --help.
  cmd->add_option("--config", flags->config,
                  "Configuration file (TOML): keys are the long flag names, [source.NAME] tables declare "
                  "inbound sources, ${NAME} reads an environment variable (docs/configuration.md)")
      ->envname("HOOKWIRE_CONFIG");
  cmd->add_option("--listen", flags->listen, "Address to listen on, host:port (port 0 picks a free one)")
      ->envname("HOOKWIRE_LISTEN")
      ->capture_default_str();
  cmd->add_option("--public-listen", flags->public_listen,
                  "A second listener, host:port, for what must face the internet: POST /in/{source} and the "
                  "health probe only (the management API and /metrics stay on --listen); unset: --listen "
                  "serves everything")
      ->envname("HOOKWIRE_PUBLIC_LISTEN");
  cmd->add_option("--tls-cert", flags->tls_cert,
                  "PEM certificate chain: --listen speaks HTTPS (with --tls-key; reloaded on SIGHUP)")
      ->envname("HOOKWIRE_TLS_CERT");
  cmd->add_option("--tls-key", flags->tls_key, "PEM private key of --tls-cert")->envname("HOOKWIRE_TLS_KEY");
  cmd->add_option("--public-tls-cert", flags->public_tls_cert,
                  "PEM certificate chain: --public-listen speaks HTTPS (with --public-tls-key; reloaded on "
                  "SIGHUP)")
      ->envname("HOOKWIRE_PUBLIC_TLS_CERT");
  cmd->add_option("--public-tls-key", flags->public_tls_key, "PEM private key of --public-tls-cert")
      ->envname("HOOKWIRE_PUBLIC_TLS_KEY");
  cmd->add_option("--data-dir", flags->data_dir, "Directory of the database and the generated admin token")
      ->envname("HOOKWIRE_DATA_DIR")
      ->capture_default_str();
  cmd->add_option(
         "--admin-token", flags->admin_token,
         "Bearer token of the management API (default: generated at first start, kept in the data dir)")
      ->envname("HOOKWIRE_ADMIN_TOKEN");
  cmd->add_option(
         "--metrics-token", flags->metrics_token,
         "Bearer token that may read /metrics (the admin token may too); unset: only the admin token")
      ->envname("HOOKWIRE_METRICS_TOKEN");
  cmd->add_option("--metrics-token-file", flags->metrics_token_file,
                  "File holding the metrics token (used when --metrics-token is not set)")
      ->envname("HOOKWIRE_METRICS_TOKEN_FILE");
  cmd->add_option("--log-format", flags->log_format, "Log format")
      ->envname("HOOKWIRE_LOG_FORMAT")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  cmd->add_option("--log-level", flags->log_level, "Log level")
      ->envname("HOOKWIRE_LOG_LEVEL")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
      ->capture_default_str();
  cmd->add_option(
         "--durability", flags->durability,
         "full: fsync every batch before acknowledging; normal: survive a crash of hookwire, not of the OS")
      ->envname("HOOKWIRE_DURABILITY")
      ->check(CLI::IsMember({"full", "normal"}))
      ->capture_default_str();
  cmd->add_option(
         "--store", flags->store,
         "Where the data lives: sqlite (hookwire.db in --data-dir, this process's alone) or a PostgreSQL "
         "URL, postgres://user:password@host:port/db, that several nodes may share")
      ->envname("HOOKWIRE_STORE")
      ->check([](const std::string& v) -> std::string {
        if (v == "sqlite" || v.starts_with("postgres://") || v.starts_with("postgresql://")) return "";
        return "must be sqlite or a postgres:// URL";
      })
      ->capture_default_str();
  cmd->add_option("--store-notify", flags->store_notify,
                  "PostgreSQL: wake other nodes with LISTEN/NOTIFY (off behind a pooler in transaction mode; "
                  "nodes then poll)")
      ->envname("HOOKWIRE_STORE_NOTIFY")
      ->check(CLI::IsMember({"on", "off"}))
      ->capture_default_str();
  cmd->add_option("--body-limit", flags->body_limit, "Largest request body accepted, in bytes")
      ->envname("HOOKWIRE_BODY_LIMIT")
      ->check(CLI::Range(size_t{1024}, size_t{1} << 30))
      ->capture_default_str();
  cmd->add_option("--max-connections", flags->max_connections, "Most concurrent client connections")
      ->envname("HOOKWIRE_MAX_CONNECTIONS")
      ->check(CLI::Range(size_t{1}, size_t{1'000'000}))
      ->capture_default_str();
  cmd->add_option("--max-streams", flags->max_streams,
                  "Most server-sent event streams open at once (each holds a connection); past it: 503")
      ->envname("HOOKWIRE_MAX_STREAMS")
      ->check(CLI::Range(size_t{1}, size_t{1'000'000}))
      ->capture_default_str();
  cmd->add_option("--threads", flags->threads, "I/O threads (0: one more than the cores)")
      ->envname("HOOKWIRE_THREADS")
      ->check(CLI::Range(0, 256))
      ->capture_default_str();
  cmd->add_option("--request-timeout-ms", flags->request_timeout_ms,
                  "Time a client has to send a whole request")
      ->envname("HOOKWIRE_REQUEST_TIMEOUT_MS")
      ->check(CLI::Range(100, 3'600'000))
      ->capture_default_str();
  cmd->add_option("--idle-timeout-ms", flags->idle_timeout_ms,
                  "Keep-alive connections idle this long are closed")
      ->envname("HOOKWIRE_IDLE_TIMEOUT_MS")
      ->check(CLI::Range(100, 3'600'000))
      ->capture_default_str();
  cmd->add_option("--first-byte-timeout-ms", flags->first_byte_timeout_ms,
                  "A new connection that sends no byte this long is closed")
      ->envname("HOOKWIRE_FIRST_BYTE_TIMEOUT_MS")
      ->check(CLI::Range(100, 3'600'000))
      ->capture_default_str();
  cmd->add_option("--unauthenticated-body-budget", flags->unauthenticated_body_budget,
                  "Body bytes that requests not yet authenticated (POST /in/{source}) may hold at once, "
                  "in all; past it: 503 with Retry-After before the body is read")
      ->envname("HOOKWIRE_UNAUTHENTICATED_BODY_BUDGET")
      ->check(CLI::Range(size_t{1024}, size_t{1} << 40))
      ->capture_default_str();
  cmd->add_option("--idempotency-ttl-hours", flags->idempotency_ttl_hours,
                  "How long idempotency keys are remembered (at least 12)")
      ->envname("HOOKWIRE_IDEMPOTENCY_TTL_HOURS")
      ->check(CLI::Range(12, 24 * 30))
      ->capture_default_str();
  cmd->add_option("--retention-days", flags->retention_days,
                  "Messages older than this are deleted with their attempts and deliveries (0: kept forever)")
      ->envname("HOOKWIRE_RETENTION_DAYS")
      ->check(CLI::Range(0, 36'500))
      ->capture_default_str();
  cmd->add_option("--delivery-allow-cidr", flags->delivery_allow_cidrs,
                  "Let deliveries reach this private range anyway (repeatable; by default loopback, private, "
                  "link-local, CGNAT, multicast and metadata addresses are refused)")
      ->envname("HOOKWIRE_DELIVERY_ALLOW_CIDR")
      ->delimiter(',');
  cmd->add_flag("--delivery-https-only", flags->delivery_https_only, "Refuse endpoints that are not https://")
      ->envname("HOOKWIRE_DELIVERY_HTTPS_ONLY");
  cmd->add_option("--delivery-ca-file", flags->delivery_ca_file,
                  "Extra CA bundle (PEM) trusted for https endpoints")
      ->envname("HOOKWIRE_DELIVERY_CA_FILE");
  cmd->add_option("--retry-schedule", flags->retry_schedule,
                  "Waits between delivery attempts (default 5s,5m,30m,2h,5h,10h,10h; +-20% jitter)")
      ->envname("HOOKWIRE_RETRY_SCHEDULE");
  cmd->add_option("--retry-overload-floor-seconds", flags->retry_overload_floor_seconds,
                  "Least wait before retrying after a 429, 502, 503, 504 or a timeout (the receiver is "
                  "overloaded or down), whatever the schedule or Retry-After say; 0: no floor")
      ->envname("HOOKWIRE_RETRY_OVERLOAD_FLOOR_SECONDS")
      ->check(CLI::Range(0, 86'400))
      ->capture_default_str();
  cmd->add_option(
         "--delivery-lease-margin-ms", flags->delivery_lease_margin_ms,
         "How much longer than --delivery-timeout-ms a delivery stays leased (renewed while it runs): "
         "how long another node waits before it takes over the work of a node that died")
      ->envname("HOOKWIRE_DELIVERY_LEASE_MARGIN_MS")
      ->check(CLI::Range(100, 3'600'000))
      ->capture_default_str();
  cmd->add_option("--delivery-timeout-ms", flags->delivery_timeout_ms, "Total time for one delivery attempt")
      ->envname("HOOKWIRE_DELIVERY_TIMEOUT_MS")
      ->check(CLI::Range(100, 300'000))
      ->capture_default_str();
  cmd->add_option("--signature-headers", flags->signature_headers,
                  "Header names of the signature: webhook (Standard Webhooks) or svix")
      ->envname("HOOKWIRE_SIGNATURE_HEADERS")
      ->check(CLI::IsMember({"webhook", "svix"}))
      ->capture_default_str();
  cmd->add_option(
         "--endpoint-disable-after-hours", flags->endpoint_disable_after_hours,
         "Disable an endpoint whose deliveries have failed continuously this long (any success resets it)")
      ->envname("HOOKWIRE_ENDPOINT_DISABLE_AFTER_HOURS")
      ->check(CLI::Range(1, 24 * 365))
      ->capture_default_str();
  cmd->add_option("--delivery", flags->delivery,
                  "off: accept and store messages without delivering them (an API-only node; the deliveries "
                  "wait in the store for a run that delivers)")
      ->envname("HOOKWIRE_DELIVERY")
      ->check(CLI::IsMember({"on", "off"}))
      ->capture_default_str();
  cmd->add_option(
         "--operational-webhook-url", flags->operational_webhook_url,
         "Where hookwire sends its operational webhooks (endpoint.disabled, message.attempt.exhausted, "
         "message.attempt.failing, message.attempt.recovered); unset: none are sent")
      ->envname("HOOKWIRE_OPERATIONAL_WEBHOOK_URL");
  cmd->add_option("--operational-webhook-secret", flags->operational_webhook_secret,
                  "whsec_ key that signs operational webhooks (default: generated once, readable through the "
                  "endpoint secret API of application hookwire-operational)")
      ->envname("HOOKWIRE_OPERATIONAL_WEBHOOK_SECRET");
  cmd->add_option("--public-url", flags->public_url,
                  "Where clients reach this server, e.g. https://hooks.example.com: the base of the message "
                  "URLs thin webhooks carry (default: http://<the --listen address>)")
      ->envname("HOOKWIRE_PUBLIC_URL");
  cmd->add_option("--portal-frame-ancestor", flags->portal_frame_ancestors,
                  "An origin that may show the application portal (/portal) in an iframe, e.g. "
                  "https://app.example.com; repeat for several (default: none but this server's own pages)")
      ->envname("HOOKWIRE_PORTAL_FRAME_ANCESTORS")
      ->delimiter(',');
  cmd->add_flag(
      "--check-config", flags->check_config,
      "Check the settings (flags, environment, config file and its sources) and exit: 0 if they are "
      "valid, 1 with the first error otherwise; opens no file of the data directory");
  cmd->callback([flags, cmd, &exit_code] { exit_code = serve(*flags, *cmd); });
}

}  // namespace hookwire::cli
