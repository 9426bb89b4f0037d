// App: one running hookwire server — the store, the API context, the router and the HTTP server, wired
// together and torn down in the right order. `hookwire serve` is a thin shell around it; integration tests
// run it in-process on port 0.
//
// Lifecycle: App::start() opens the store (creating the data directory), binds and starts serving; stop()
// stops accepting, finishes in-flight requests, then stops the store (committing what is queued). stop() is
// idempotent and is called by the destructor.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/result.h"
#include "store/store.h"

namespace hookwire::app {

struct AppOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8071;
  // A second, public listener (--public-listen) that serves only what must face the internet (POST
  // /in/{source}, the health probe): the management API and /metrics stay on host:port. Unset: one listener
  // serves everything.
  std::optional<std::string> public_host;
  uint16_t public_port = 0;
  // HTTPS on a listener: PEM files of its certificate chain and private key (both or neither; the public
  // ones need public_host). Checked by check_options(); reloaded by App::reload_tls() (SIGHUP).
  std::string tls_cert;
  std::string tls_key;
  std::string public_tls_cert;
  std::string public_tls_key;
  std::filesystem::path data_dir = "hookwire-data";
  std::string admin_token;    // required (resolve_admin_token() makes one)
  std::string metrics_token;  // may read /metrics (the admin token may too); empty: only the admin token
  store::Durability durability = store::Durability::kFull;
  // Where the data lives: empty for the embedded SQLite store (hookwire.db in data_dir, this process's
  // alone), or a PostgreSQL URL (postgres://user:password@host:port/db) that several nodes may share.
  std::string store_url;
  bool store_notify =
      true;         // PostgreSQL: LISTEN/NOTIFY between nodes (off behind PgBouncer's transaction mode)
  int threads = 0;  // I/O loops; 0: one more than the cores
  size_t body_limit = 1 << 20;
  size_t max_connections = 10'000;  // lowered at start to fit the open-file limit (see fit_connection_cap)
  std::chrono::milliseconds request_timeout{30'000};
  std::chrono::milliseconds idle_timeout{75'000};
  std::chrono::milliseconds first_byte_timeout{10'000};
  size_t unauthenticated_body_budget = 64 << 20;  // api::ServerOptions::unauthenticated_body_budget
  size_t max_streams = 1000;                      // api::ServerOptions::max_streams (server-sent events)
  std::chrono::seconds idempotency_ttl{std::chrono::hours{24}};
  // Messages older than this many days are pruned (with their attempts and deliveries) by the janitor, in
  // small batches; 0: kept forever. Payloads with their own retention expire whatever this says.
  int retention_days = 30;
  const Clock* clock = nullptr;  // default: the system clock

  // Delivery (the dispatcher).
  std::vector<std::string> delivery_allow_cidrs;  // exceptions to the SSRF guard, e.g. "127.0.0.0/8"
  bool delivery_https_only = false;
  std::string delivery_ca_file;  // extra CA bundle (PEM) trusted for https endpoints
  std::string retry_schedule;    // e.g. "5s,5m,30m,2h,5h,10h,10h"; empty: that default
  // Least wait after an overload answer or a timeout (delivery::RetryOptions::min_wait_after_throttle).
  std::chrono::seconds retry_overload_floor{60};
  std::chrono::milliseconds delivery_timeout{15'000};
  std::chrono::milliseconds delivery_lease_margin{30'000};  // lease = delivery_timeout + this
  bool deliver = true;        // false: store messages and deliveries but send nothing (an API-only node)
  bool svix_headers = false;  // sign with svix-* header names instead of webhook-*
  std::chrono::hours endpoint_disable_after{120};  // an endpoint failing continuously this long is disabled
  // Operational webhooks (delivery/operational.h): sent to this URL when set, signed with this key (nullopt:
  // the stored key, or a generated one).
  std::string operational_webhook_url;
  std::optional<std::string> operational_webhook_secret;
  // Where this server is reached from outside (--public-url): the base of the message URLs thin webhooks
  // carry and of app-portal links. Empty: http://<the address it listens on>. Checked by start()
  // (public_base_url).
  std::string public_url;
  // Origins that may frame the application portal (web::WebOptions::portal_frame_ancestors).
  std::vector<std::string> portal_frame_ancestors;

  // Inbound sources declared in the config file: SourceIn JSON objects, each with a uid. When
  // `config_file` is set they are the truth (inbound::sync_declared_sources): created, replaced or left
  // alone, and a source an earlier file declared that this one does not is deleted. Without a config file
  // the declared sources stay as they are.
  bool config_file = false;
  std::vector<std::string> sources;
};

class App {
 public:
  static Result<std::unique_ptr<App>> start(AppOptions options);
  ~App();

  boost::asio::ip::tcp::endpoint endpoint() const;
  // The public listener's address, when there is one (AppOptions::public_host).
  std::optional<boost::asio::ip::tcp::endpoint> public_endpoint() const;
  // Loads every listener's certificate and key again from their files (SIGHUP); new connections use them.
  // A listener whose files do not load keeps its current ones: logged, and the first such error returned.
  Status reload_tls();
  void stop();

 private:
  struct Parts;
  explicit App(std::unique_ptr<Parts> parts);
  std::unique_ptr<Parts> parts_;
};

// What App::start() checks of `options` before it opens the data directory (for `hookwire serve
// --check-config`): the delivery policy (--delivery-allow-cidr), the retry schedule and the operational
// webhook URL, the TLS files (each pair must load and match). Not the sources: check_config_source() checks
// one.
Status check_options(const AppOptions& options);

// One source declared in the config file (SourceIn JSON text, as AppOptions::sources holds them), checked as
// App::start() checks it: its settings, and destinations the delivery guard would always refuse. The error
// is kValidation on "source.<SourceIn field>".
Status check_config_source(std::string_view source_json, const AppOptions& options);

// `url` as the base of public URLs: an absolute http:// or https:// URL with a host, without user info, query
// or fragment; returned without a trailing '/'. kValidation naming `--public-url` otherwise.
Result<std::string> public_base_url(std::string_view url);

// Raises this process's soft limit of open files (RLIMIT_NOFILE) to its hard limit, and returns the soft
// limit now in force (SIZE_MAX when unlimited). Call once at start, before threads open descriptors.
size_t raise_open_file_limit();

// The connection cap that fits `open_file_limit`: `requested`, lowered so that the server's descriptors
// (cap + api::HttpServer::kMaxRefusing + the acceptor) leave `reserve` for the store, outbound deliveries
// and the rest (at most half of the limit is reserved). At least 1.
size_t fit_connection_cap(size_t requested, size_t open_file_limit, size_t reserve);

// The metrics token: `configured` if not empty, else the contents of `file` (surrounding whitespace
// trimmed; the file must hold a token of at least 16 characters), else empty.
Result<std::string> resolve_metrics_token(const std::string& configured, const std::filesystem::path& file);

// Makes `data_dir` private to this user, as it holds every secret (endpoint and source secrets, payloads, the
// admin token): sets the process umask to 077 (so SQLite's database, -wal and -shm files, and anything else
// made from now on, are 0600 from creation), creates the directory (0700), and corrects an existing install:
// the directory to 0700; hookwire.db, -wal, -shm, admin-token, lock and token.key to 0600, logging each
// correction. Idempotent; App::start() and resolve_admin_token() call it.
Status secure_data_dir(const std::filesystem::path& data_dir);

// `url` (a PostgreSQL URL) with its password replaced by "***", for the log; anything else unchanged.
std::string redact_store_url(std::string_view url);

// The key of scoped tokens (api/v1/tokens.h): the 32 bytes of `<data_dir>/token.key`, made at first start
// (random, mode 0600 from creation). A file of another size is refused: tokens could no longer be shown.
Result<std::string> load_token_key(const std::filesystem::path& data_dir);

// The admin token to use: `configured` if not empty; else the one kept in `<data_dir>/admin-token`; else a
// new random one, saved there (mode 0600 from creation). `generated` tells the caller to show it (it is shown
// only once).
struct AdminToken {
  std::string token;
  bool generated = false;
  std::filesystem::path file;
};
Result<AdminToken> resolve_admin_token(const std::string& configured, const std::filesystem::path& data_dir);

}  // namespace hookwire::app
