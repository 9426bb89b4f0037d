#include "app/app.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <boost/url/parse.hpp>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <fstream>
#include <future>
#include <iterator>
#include <mutex>
#include <thread>

#include "api/http_server.h"
#include "api/v1/routes.h"
#include "api/v1/tokens.h"
#include "app/figures_recorder.h"
#include "app/janitor.h"
#include "core/encoding.h"
#include "delivery/dispatcher.h"
#include "delivery/operational.h"
#include "feed/hub.h"
#include "inbound/gateway.h"
#include "inbound/sources.h"
#include "web/web_routes.h"

namespace hookwire::app {

namespace fs = std::filesystem;

// Descriptors kept for everything but client connections and outbound deliveries: the store's database,
// WAL and shm files on each of its connections, the data-dir lock, logs, the event loops' epoll and eventfd
// descriptors, resolver sockets.
constexpr size_t kStoreAndProcessDescriptors = 64;

// An exclusive lock on `<data_dir>/lock` (flock), held while the app runs: the embedded store is owned by one
// process, which is what lets that process release leases left by a dead one at start-up and keep its own
// leases in memory. The kernel drops the lock when the process dies, however it dies.
class DataDirLock {
 public:
  static Result<std::unique_ptr<DataDirLock>> acquire(const fs::path& data_dir) {
    const fs::path file = data_dir / "lock";
    const int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
      return Error::internal(fmt::format("cannot open {}: {}", file.string(), std::strerror(errno)));
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      ::close(fd);
      if (err == EWOULDBLOCK)
        return Error::conflict(
            fmt::format("data directory {} is in use by another hookwire process", data_dir.string()));
      return Error::internal(fmt::format("cannot lock {}: {}", file.string(), std::strerror(err)));
    }
    return std::unique_ptr<DataDirLock>(new DataDirLock(fd));
  }
  ~DataDirLock() { ::close(fd_); }
  DataDirLock(const DataDirLock&) = delete;
  DataDirLock& operator=(const DataDirLock&) = delete;

 private:
  explicit DataDirLock(int fd) : fd_(fd) {}
  int fd_;
};

namespace {
using TlsPair = std::pair<std::shared_ptr<api::TlsCredentials>, std::shared_ptr<api::TlsCredentials>>;

// One listener's credentials from its two files: nullptr when neither is set.
Result<std::shared_ptr<api::TlsCredentials>> load_listener_tls(const std::string& cert,
                                                               const std::string& key,
                                                               const std::string& prefix) {
  if (cert.empty() && key.empty()) return std::shared_ptr<api::TlsCredentials>();
  if (cert.empty() || key.empty())
    return Error::validation(prefix + "tls-cert", fmt::format("--{0}tls-cert and --{0}tls-key go together: "
                                                              "set both (or neither)",
                                                              prefix));
  return api::TlsCredentials::load(cert, key, "--" + prefix + "tls-cert");
}

// The API and the public listeners' credentials (AppOptions::tls_cert, public_tls_cert).
Result<TlsPair> load_tls(const AppOptions& options) {
  auto api_tls = load_listener_tls(options.tls_cert, options.tls_key, "");
  if (!api_tls) return api_tls.take_error();
  auto public_tls = load_listener_tls(options.public_tls_cert, options.public_tls_key, "public-");
  if (!public_tls) return public_tls.take_error();
  if (*public_tls && !options.public_host)
    return Error::validation("public-tls-cert",
                             "--public-tls-cert needs --public-listen (the listener it is for)");
  return TlsPair{*api_tls, *public_tls};
}

void log_tls(const api::TlsCredentials& creds, std::string_view listener, std::string_view what) {
  spdlog::info("tls: the {} listener's certificate {} from {}: {}", listener, what, creds.cert_file(),
               creds.describe());
  if (creds.expired())
    spdlog::warn("tls: the {} listener's certificate ({}) has expired: clients will refuse it", listener,
                 creds.cert_file());
}

// Every scoped token, for the registry (blocking: runs once, before serving).
// The scoped tokens' key kept in the store (several nodes): this node's random proposal, or the one a node
// put first.
Result<std::string> shared_token_key(store::Store& store) {
  const std::string proposal = hex_encode(random_bytes(api::v1::kTokenKeySize));
  auto stored = std::make_shared<std::string>();  // the function's last run's (it may run more than once)
  std::promise<Status> done;
  store.submit_write(
      [stored, proposal](store::Tx& tx) -> Status {
        auto r = tx.setting_or_put("token_key", proposal);
        if (!r) return r.take_error();
        *stored = std::move(*r);
        return {};
      },
      [&done](Status st) { done.set_value(std::move(st)); });
  if (auto st = done.get_future().get(); !st)
    return Error::internal("cannot read the scoped tokens' key from the store: " + st.error().detail);
  auto key = hex_decode(*stored);
  if (!key || key->size() != api::v1::kTokenKeySize)
    return Error::internal("the store's token_key setting is not " + std::to_string(api::v1::kTokenKeySize) +
                           " bytes of hex");
  return std::move(*key);
}

Result<std::vector<store::ApiToken>> load_tokens(store::Store& store) {
  std::promise<Result<std::vector<store::ApiToken>>> listed;
  store.submit_read([&listed](store::Tx& tx) { listed.set_value(tx.list_tokens()); }, [] {});
  return listed.get_future().get();
}

// Creates or updates the operational application (delivery/operational.h) and returns its id.
Result<std::string> ensure_operational_app(store::Store& store, const Clock& clock,
                                           const delivery::OperationalConfig& config) {
  std::promise<Status> done;
  std::string app_id;
  const TimePoint now = clock.now();
  store.submit_write(
      [&app_id, &config, now](store::Tx& tx) -> Status {
        auto id = delivery::ensure_operational_app(tx, config, now);
        if (!id) return id.take_error();
        app_id = std::move(*id);
        return {};
      },
      [&done](Status st) { done.set_value(std::move(st)); });
  if (auto st = done.get_future().get(); !st) return st.take_error();
  return app_id;
}

// One config-file source (SourceIn JSON text), checked as the API checks a SourceIn: errors are kValidation
// on "source.<field>".
Result<inbound::SourceSpec> config_source_spec(std::string_view text, const AppOptions& options,
                                               const delivery::UrlGuard& guard) {
  boost::system::error_code ec;
  auto v = boost::json::parse(text, ec);
  if (ec || !v.is_object())
    return Error::validation("source", "a source in the config file is not an object");
  auto spec = inbound::parse_source_spec(v.as_object(), options.body_limit, "source");
  if (!spec) return spec.take_error();
  if (auto st = inbound::check_destinations(*spec, guard, "source"); !st) return st.take_error();
  return spec;
}

// The config file's sources (options.sources); an error names the source.
Result<std::vector<inbound::SourceSpec>> config_source_specs(const AppOptions& options,
                                                             const delivery::UrlGuard& guard) {
  std::vector<inbound::SourceSpec> specs;
  for (const auto& text : options.sources) {
    auto spec = config_source_spec(text, options, guard);
    if (!spec) {
      boost::system::error_code ec;
      const auto v = boost::json::parse(text, ec);
      const auto* uid = !ec && v.is_object() ? v.as_object().if_contains("uid") : nullptr;
      return Error::validation(spec.error().field,
                               fmt::format("config file source {}: {} {}",
                                           uid && uid->is_string() ? std::string(uid->as_string()) : "?",
                                           spec.error().field, spec.error().detail));
    }
    specs.push_back(std::move(*spec));
  }
  return specs;
}

// With a config file, makes its sources the store's (inbound::sync_declared_sources: created, replaced when
// different, deleted when no longer declared); then registers every source with the gateway so its metrics
// (forwards included) exist from the start. Blocking: runs once, before serving.
Status load_sources(store::Store& store, inbound::Gateway& gateway, const Clock& clock,
                    const AppOptions& options, const delivery::UrlGuard& guard) {
  auto parsed = config_source_specs(options, guard);
  if (!parsed) return parsed.take_error();
  const std::vector<inbound::SourceSpec>& specs = *parsed;
  std::promise<Status> written;
  if (!options.config_file) written.set_value(Status{});  // no file: the declared sources stay as they are
  const TimePoint now = clock.now();
  auto sync = std::make_shared<inbound::DeclaredSync>();
  if (options.config_file)
    store.submit_write(
        [specs, now, sync](store::Tx& tx) -> Status {
          auto r = inbound::sync_declared_sources(tx, specs, now);
          if (!r) return r.take_error();
          *sync = std::move(*r);
          return {};
        },
        [&written](Status st) { written.set_value(std::move(st)); });
  if (auto st = written.get_future().get(); !st) return st;
  for (const auto& uid : sync->removed)
    spdlog::warn("config file: source {} is no longer declared: deleted with its application", uid);
  if (!sync->created.empty() || !sync->updated.empty() || !sync->removed.empty() ||
      !sync->unchanged.empty()) {
    spdlog::info(
        "config file sources: created [{}], updated [{}], unchanged [{}], removed (no longer declared) [{}]",
        fmt::join(sync->created, ", "), fmt::join(sync->updated, ", "), fmt::join(sync->unchanged, ", "),
        fmt::join(sync->removed, ", "));
  }

  std::promise<Result<std::vector<store::Source>>> listed;
  store.submit_read(
      [&listed](store::Tx& tx) {
        std::vector<store::Source> all;
        store::PageQuery q;
        q.limit = 250;
        for (;;) {
          auto page = tx.list_sources(q);
          if (!page) return listed.set_value(page.take_error());
          for (auto& s : page->items) all.push_back(std::move(s));
          if (page->done || !page->iterator) break;
          q.iterator = page->iterator;
        }
        listed.set_value(std::move(all));
      },
      [] {});
  auto all = listed.get_future().get();
  if (!all) return all.take_error();
  for (const auto& src : *all) gateway.note_source(src);
  return {};
}

}  // namespace

struct App::Parts {
  AppOptions options;
  std::unique_ptr<DataDirLock> lock;  // released by stop(), after the store has stopped
  metrics::Registry metrics;
  // Before the store: the store's feed listener calls into it until the store has stopped.
  feed::FeedHub feed_hub;
  std::unique_ptr<store::Store> store;
  // Before the dispatcher: destroyed after it, since the dispatcher's on_recorded counts forwards in it.
  std::unique_ptr<inbound::Gateway> gateway;
  std::unique_ptr<delivery::Dispatcher> dispatcher;
  // With a store several nodes share: the dispatcher, woken when another node's messages become readable
  // (their deliveries may be due) and told of the other nodes' rate-limit announcements. Null until it runs,
  // and again before it stops.
  std::atomic<delivery::Dispatcher*> woken_by_feed{nullptr};
  // What another node's changes invalidate (Store::set_change_listener): null until made, and again before
  // they are destroyed.
  std::atomic<inbound::Gateway*> sources_cache{nullptr};
  std::atomic<api::v1::TokenRegistry*> tokens_cache{nullptr};
  delivery::UrlGuard url_guard;  // the dispatcher's SSRF policy (a copy), for the API's checks
  api::v1::ApiContext context;
  api::Router router;
  std::unique_ptr<api::HttpServer> server;
  api::Router public_router;                        // with public_server only
  std::unique_ptr<api::HttpServer> public_server;   // --public-listen: /in/{source} and health
  std::shared_ptr<api::TlsCredentials> tls;         // --tls-cert: the API listener's
  std::shared_ptr<api::TlsCredentials> public_tls;  // --public-tls-cert: the public listener's
  std::optional<boost::asio::ip::tcp::endpoint> public_endpoint;
  std::unique_ptr<api::v1::TokenRegistry> tokens;  // scoped tokens; before the janitor, which updates it
  std::unique_ptr<Janitor> janitor;
  std::unique_ptr<FiguresRecorder> figures;  // GET /api/v1/server/stats; stopped before the store
  boost::asio::ip::tcp::endpoint endpoint;
  bool stopped = false;
};

namespace {
// This node as the server figures name it: the host's name (printable ASCII only) and the API port.
std::string node_id(unsigned short port) {
  char host[256] = {};
  std::string name;
  if (gethostname(host, sizeof host - 1) == 0)
    for (const char* c = host; *c; ++c)
      if (*c > ' ' && *c < 127) name += *c;
  if (name.empty()) name = "hookwire";
  return fmt::format("{}:{}", name, port);
}
}  // namespace

App::App(std::unique_ptr<Parts> parts) : parts_(std::move(parts)) {}
App::~App() { stop(); }

Result<std::unique_ptr<App>> App::start(AppOptions options) {
  auto parts = std::make_unique<Parts>();
  parts->options = options;
  const Clock& clock = options.clock ? *options.clock : SystemClock::instance();
  if (options.admin_token.empty()) return Error::internal("no admin token configured");

  if (!options.public_url.empty()) {
    auto base = public_base_url(options.public_url);
    if (!base) return base.take_error();
    options.public_url = std::move(*base);
  }
  for (const auto& origin : options.portal_frame_ancestors)
    if (auto st = web::check_frame_ancestor(origin, "portal-frame-ancestor"); !st) return st.take_error();
  if (auto st = secure_data_dir(options.data_dir); !st) return st.take_error();

  auto lock = DataDirLock::acquire(options.data_dir);
  if (!lock) return lock.take_error();
  parts->lock = std::move(*lock);

  Result<std::unique_ptr<store::Store>> store = Error::internal("no store");
  if (options.store_url.empty()) {
    store::SqliteOptions so;
    so.path = (options.data_dir / "hookwire.db").string();
    so.durability = options.durability;
    so.metrics = &parts->metrics;
    store = store::open_sqlite_store(so);
  } else {
    // Reads wait on the network, not the disk: more of them than SQLite's.
    store::PostgresOptions po;
    po.url = options.store_url;
    po.readers = 4;
    po.metrics = &parts->metrics;
    po.listen = options.store_notify;
    store = store::open_postgres_store(po);
    if (store) spdlog::info("store: PostgreSQL at {}", redact_store_url(options.store_url));
  }
  if (!store) return store.take_error();
  parts->store = std::move(*store);
  // Before any write (the operational application, lease release): every durable message wakes its readers.
  parts->store->set_feed_listener(
      [hub = &parts->feed_hub, d = &parts->woken_by_feed](const store::Store::FeedAdvance& advance) {
        hub->advance(advance);
        // This node's own deliveries wake it as they are created (on_deliveries_created).
        if (advance.from_others)
          if (auto* dispatcher = d->load()) dispatcher->wake();
      });
  // Another node changed sources or tokens (a store several nodes share): drop the cached sources; merge the
  // stored tokens into the registry (a merge, not a reload: a token put here meanwhile stays, and an expiry
  // only ever moves earlier, so a revocation elsewhere takes effect).
  parts->store->set_change_listener([p = parts.get()](std::string_view topic) {
    const bool all = topic == "*";
    // Which rate-limited endpoints the other nodes have work for (delivery/rate_shares.h).
    if (auto* dispatcher = p->woken_by_feed.load()) dispatcher->heard(topic);
    if (all || topic == "sources")
      if (auto* gateway = p->sources_cache.load()) gateway->invalidate();
    if (all || topic == "tokens") {
      p->store->submit_read(
          [p](store::Tx& tx) {
            auto* registry = p->tokens_cache.load();
            if (!registry) return;
            auto tokens = tx.list_tokens();
            if (!tokens) {
              spdlog::warn("store: cannot reload the scoped tokens another node changed: {}",
                           tokens.error().detail);
              return;
            }
            for (const auto& t : *tokens) registry->put(t);
          },
          [] {});
    }
  });

  delivery::DispatcherOptions dispatch;
  auto guard = delivery::UrlGuard::from_config(options.delivery_allow_cidrs, options.delivery_https_only);
  if (!guard) {
    parts->store->stop();
    return guard.take_error();
  }
  parts->url_guard = *guard;  // the API checks configured URLs against it too
  dispatch.http.guard = std::move(*guard);
  dispatch.http.extra_ca_file = options.delivery_ca_file;
  dispatch.http.total_timeout = options.delivery_timeout;
  dispatch.lease_margin = options.delivery_lease_margin;
  dispatch.nodes = [store = parts->store.get()] { return store->live_nodes(); };
  // Nodes that hear each other (PostgreSQL with LISTEN) divide an endpoint's rate limit between those that
  // have work for it; without, between the live nodes.
  if (!options.store_url.empty() && options.store_notify)
    dispatch.announce = [store = parts->store.get()](std::string topic) { store->announce(topic); };
  dispatch.http.user_agent = "hookwire/" HOOKWIRE_VERSION;
  dispatch.svix_headers = options.svix_headers;
  dispatch.health.disable_after = options.endpoint_disable_after;
  if (!options.retry_schedule.empty()) {
    auto schedule = delivery::parse_retry_schedule(options.retry_schedule);
    if (!schedule) {
      parts->store->stop();
      return schedule.take_error();
    }
    dispatch.retry.schedule = std::move(*schedule);
  }
  dispatch.retry.min_wait_after_throttle = options.retry_overload_floor;
  if (!options.operational_webhook_url.empty()) {
    auto target = dispatch.http.guard.validate_url(options.operational_webhook_url);
    if (!target) {
      parts->store->stop();
      return Error::internal("--operational-webhook-url: " + target.error().detail);
    }
    auto app_id = ensure_operational_app(
        *parts->store, clock, {options.operational_webhook_url, options.operational_webhook_secret});
    if (!app_id) {
      parts->store->stop();
      return app_id.take_error();
    }
    dispatch.operational_app_id = std::move(*app_id);
  }
  // The gateway exists before the dispatcher so the dispatcher can count forwards of inbound events.
  inbound::GatewayOptions gateway_options;
  gateway_options.max_body_limit = options.body_limit;
  parts->gateway =
      std::make_unique<inbound::Gateway>(*parts->store, clock, parts->metrics, std::move(gateway_options));
  dispatch.on_recorded = [g = parts->gateway.get()](const store::Delivery& after, const store::Attempt&) {
    if (after.status == store::Delivery::kSuccess) g->note_delivered(after.app_id);
  };
  const size_t delivery_descriptors = dispatch.max_in_flight;
  auto dispatcher = delivery::Dispatcher::create(*parts->store, clock, std::move(dispatch), &parts->metrics);
  if (!dispatcher) {
    parts->store->stop();
    return dispatcher.take_error();
  }
  parts->dispatcher = std::move(*dispatcher);

  if (auto st = load_sources(*parts->store, *parts->gateway, clock, options, parts->url_guard); !st) {
    parts->dispatcher->stop();
    parts->store->stop();
    return st.take_error();
  }
  if (options.config_file)
    parts->store->publish_change("sources");  // the file's sources may be new to others
  if (options.deliver)
    parts->gateway->set_on_deliveries_created([d = parts->dispatcher.get()] { d->wake(); });

  {
    // Nodes sharing a database must derive the same tokens: their key is kept in it. The embedded store keeps
    // it in the data directory, as it always has.
    auto key = options.store_url.empty() ? load_token_key(options.data_dir) : shared_token_key(*parts->store);
    auto tokens = key ? load_tokens(*parts->store) : Result<std::vector<store::ApiToken>>(key.error());
    if (!tokens) {
      parts->dispatcher->stop();
      parts->store->stop();
      return tokens.take_error();
    }
    parts->tokens = std::make_unique<api::v1::TokenRegistry>(std::move(*key));
    parts->tokens->load(std::move(*tokens));
    parts->tokens_cache = parts->tokens.get();
  }

  parts->context.store = parts->store.get();
  parts->context.tokens = parts->tokens.get();
  parts->context.inbound = parts->gateway.get();
  parts->sources_cache = parts->gateway.get();
  parts->context.url_guard = &parts->url_guard;
  parts->context.feed_hub = &parts->feed_hub;
  if (options.deliver) parts->context.on_deliveries_created = [d = parts->dispatcher.get()] { d->wake(); };
  parts->context.clock = &clock;
  parts->context.metrics = &parts->metrics;
  parts->context.admin_token = options.admin_token;
  parts->context.metrics_token = options.metrics_token;
  parts->context.idempotency_ttl = options.idempotency_ttl;
  parts->figures = std::make_unique<FiguresRecorder>(*parts->store, parts->metrics, clock);
  parts->context.figures = &parts->figures->sampler();
  api::v1::add_routes(parts->router, &parts->context);
  web::add_web_routes(parts->router, web::WebOptions{options.portal_frame_ancestors});

  api::ServerOptions server_options;
  // By default one loop more than the cores: the store's threads (writer, syncer, checkpointer) share the
  // cores with the loops, and a loop whose thread is preempted holds up every connection on it. On 2 cores,
  // 3 loops served bench/inbound 8 % faster than 2, its rejection path 9 % and bench/ingest 1-7 %; 4 or
  // more were slower again (bench/inbound/README.md).
  server_options.threads = options.threads > 0
                               ? options.threads
                               : std::max(1, static_cast<int>(std::thread::hardware_concurrency())) + 1;
  server_options.body_limit = options.body_limit;
  {
    // Each connection is a descriptor: the cap must leave room for the store's files and the outbound
    // deliveries (the dispatcher's in-flight attempts), or a flood of clients would make deliveries fail
    // with EMFILE.
    struct rlimit rl {};
    const size_t limit = getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY
                             ? SIZE_MAX
                             : static_cast<size_t>(rl.rlim_cur);
    const size_t reserve = kStoreAndProcessDescriptors + (options.deliver ? delivery_descriptors : 0);
    server_options.max_connections = fit_connection_cap(options.max_connections, limit, reserve);
    if (server_options.max_connections < options.max_connections) {
      spdlog::warn(
          "http: connection cap {} lowered to {}: open-file limit {} (keeping {} for the store, outbound "
          "deliveries and refusals); raise the limit (ulimit -n, LimitNOFILE=) to allow more",
          options.max_connections, server_options.max_connections, limit,
          limit - server_options.max_connections);
    } else {
      spdlog::info("http: connection cap {} (open-file limit {})", server_options.max_connections,
                   limit == SIZE_MAX ? std::string("unlimited") : std::to_string(limit));
    }
  }
  server_options.request_timeout = options.request_timeout;
  server_options.idle_timeout = options.idle_timeout;
  server_options.first_byte_timeout = options.first_byte_timeout;
  server_options.unauthenticated_body_budget = options.unauthenticated_body_budget;
  server_options.max_streams = options.max_streams;
  {
    auto tls = load_tls(options);
    if (!tls) {
      parts->dispatcher->stop();
      parts->store->stop();
      return tls.take_error();
    }
    std::tie(parts->tls, parts->public_tls) = *tls;
    if (parts->tls) log_tls(*parts->tls, "API", "loaded");
    if (parts->public_tls) log_tls(*parts->public_tls, "public", "loaded");
  }
  if (options.public_host) {
    server_options.tls = parts->public_tls;
    // Two listeners share the descriptors the cap was fitted to.
    server_options.max_connections = std::max<size_t>(1, server_options.max_connections / 2);
    api::v1::add_public_routes(parts->public_router, &parts->context);
    parts->public_server =
        std::make_unique<api::HttpServer>(server_options, parts->public_router, parts->metrics);
    auto bound = parts->public_server->listen(*options.public_host, options.public_port);
    if (!bound) {
      parts->dispatcher->stop();
      parts->store->stop();
      return Error::unavailable("--public-listen: " + bound.error().detail);
    }
    parts->public_endpoint = *bound;
  }
  server_options.tls = parts->tls;
  parts->server = std::make_unique<api::HttpServer>(server_options, parts->router, parts->metrics);
  auto endpoint = parts->server->listen(options.host, options.port);
  if (!endpoint) {
    if (parts->public_server) parts->public_server->stop();
    parts->dispatcher->stop();
    parts->store->stop();
    return endpoint.take_error();
  }
  parts->endpoint = *endpoint;
  parts->context.node_id = node_id(endpoint->port());
  if (options.public_url.empty()) {  // the address it listens on (its port known now)
    const auto address = endpoint->address();
    const std::string host = address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
    options.public_url = fmt::format("{}://{}:{}", parts->tls ? "https" : "http", host, endpoint->port());
  }
  parts->context.public_url = options.public_url;
  parts->dispatcher->set_public_url(options.public_url);
  if (options.deliver) {
    parts->dispatcher->start();
    if (!options.store_url.empty()) parts->woken_by_feed = parts->dispatcher.get();
  }
  parts->server->start();
  if (parts->public_server) parts->public_server->start();
  JanitorOptions janitor_options;
  janitor_options.idempotency_ttl = options.idempotency_ttl;
  janitor_options.retention = std::chrono::days{options.retention_days};
  parts->janitor = std::make_unique<Janitor>(*parts->store, clock, janitor_options, parts->tokens.get());
  parts->janitor->start();
  parts->figures->start();
  return std::unique_ptr<App>(new App(std::move(parts)));
}

boost::asio::ip::tcp::endpoint App::endpoint() const { return parts_->endpoint; }

std::optional<boost::asio::ip::tcp::endpoint> App::public_endpoint() const { return parts_->public_endpoint; }

Status App::reload_tls() {
  Status first;
  for (const auto& [creds, listener] :
       {std::pair{parts_->tls, "API"}, std::pair{parts_->public_tls, "public"}}) {
    if (!creds) continue;
    if (auto st = creds->reload(); !st) {
      spdlog::error("tls: the {} listener keeps its current certificate: {}", listener, st.error().detail);
      if (first) first = st;
      continue;
    }
    log_tls(*creds, listener, "reloaded");
  }
  return first;
}

void App::stop() {
  if (!parts_ || parts_->stopped) return;
  parts_->stopped = true;
  parts_->janitor->stop();
  parts_->figures->stop();
  // Held long-polls answer at once (their empty page), so the server's drain does not wait out their `wait`.
  parts_->feed_hub.stop();
  parts_->gateway->request_log().stop();  // the source request routes' `wait` too
  // In-flight requests finish first: their store work completes before the store stops. The dispatcher
  // stops next: its in-flight attempts are recorded (due again at once) while the store still takes writes.
  if (parts_->public_server) parts_->public_server->stop();
  parts_->server->stop();
  parts_->woken_by_feed = nullptr;
  parts_->sources_cache = nullptr;
  parts_->tokens_cache = nullptr;
  parts_->dispatcher->stop();
  parts_->store->stop();
  parts_->lock.reset();
}

Status check_options(const AppOptions& options) {
  if (auto tls = load_tls(options); !tls) return tls.take_error();
  auto guard = delivery::UrlGuard::from_config(options.delivery_allow_cidrs, options.delivery_https_only);
  if (!guard) return guard.take_error();
  if (!options.retry_schedule.empty())
    if (auto schedule = delivery::parse_retry_schedule(options.retry_schedule); !schedule)
      return schedule.take_error();
  for (const auto& origin : options.portal_frame_ancestors)
    if (auto st = web::check_frame_ancestor(origin, "portal-frame-ancestor"); !st) return st;
  if (!options.operational_webhook_url.empty())
    if (auto target = guard->validate_url(options.operational_webhook_url); !target)
      return Error::validation("operational-webhook-url",
                               "--operational-webhook-url: " + target.error().detail);
  return {};
}

Status check_config_source(std::string_view source_json, const AppOptions& options) {
  auto guard = delivery::UrlGuard::from_config(options.delivery_allow_cidrs, options.delivery_https_only);
  if (!guard) return guard.take_error();
  auto spec = config_source_spec(source_json, options, *guard);
  if (!spec) return spec.take_error();
  return {};
}

Result<std::string> public_base_url(std::string_view text) {
  auto url = boost::urls::parse_absolute_uri(text);
  if (!url || (url->scheme() != "http" && url->scheme() != "https") || !url->has_authority() ||
      url->host().empty())
    return Error::validation("--public-url", "must be an absolute http:// or https:// URL with a host");
  if (url->has_userinfo()) return Error::validation("--public-url", "must not hold user info");
  if (url->has_query() || url->has_fragment())
    return Error::validation("--public-url", "must have no query and no fragment");
  std::string base(text);
  while (base.ends_with('/')) base.pop_back();
  return base;
}

size_t raise_open_file_limit() {
  struct rlimit rl {};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return SIZE_MAX;
  if (rl.rlim_cur != rl.rlim_max) {
    struct rlimit raised = rl;
    raised.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) {
      rl = raised;
    } else {
      spdlog::warn("cannot raise the open-file limit from {} to {}: {}", rl.rlim_cur, rl.rlim_max,
                   std::strerror(errno));
    }
  }
  return rl.rlim_cur == RLIM_INFINITY ? SIZE_MAX : static_cast<size_t>(rl.rlim_cur);
}

size_t fit_connection_cap(size_t requested, size_t open_file_limit, size_t reserve) {
  if (open_file_limit == SIZE_MAX) return std::max<size_t>(requested, 1);
  reserve = std::min(reserve, open_file_limit / 2);
  const size_t overhead = reserve + api::HttpServer::kMaxRefusing + 1;
  const size_t room = open_file_limit > overhead ? open_file_limit - overhead : 0;
  return std::max<size_t>(1, std::min(requested, room));
}

Result<std::string> resolve_metrics_token(const std::string& configured, const fs::path& file) {
  if (!configured.empty() || file.empty()) return configured;
  std::ifstream in(file);
  if (!in) return Error::internal("cannot read the metrics token file " + file.string());
  std::string token((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto first = token.find_first_not_of(" \t\r\n");
  const auto last = token.find_last_not_of(" \t\r\n");
  token = first == std::string::npos ? std::string{} : token.substr(first, last - first + 1);
  if (token.size() < 16 || token.find_first_of(" \t\r\n") != std::string::npos)
    return Error::internal("the metrics token file " + file.string() +
                           " must hold one token of at least 16 characters");
  return token;
}

Status secure_data_dir(const fs::path& data_dir) {
  ::umask(077);
  std::error_code ec;
  fs::create_directories(data_dir, ec);
  if (ec) return Error::internal("cannot create data directory " + data_dir.string() + ": " + ec.message());
  // Only what is wider than wanted is corrected (a stricter mode is the operator's choice).
  auto correct = [](const fs::path& path, mode_t wanted, std::string_view what) -> Status {
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) {
      if (errno == ENOENT) return {};
      return Error::internal(
          fmt::format("cannot read the mode of {}: {}", path.string(), std::strerror(errno)));
    }
    if (S_ISLNK(st.st_mode)) return {};  // not followed: the file it names is its owner's business
    const mode_t mode = st.st_mode & 07777;
    if ((mode & ~wanted) == 0) return {};
    const mode_t fixed = mode & wanted;
    if (::chmod(path.c_str(), fixed) != 0)
      return Error::internal(
          fmt::format("{} {} is mode {:04o}, readable by others, and cannot be made {:04o}: {}", what,
                      path.string(), mode, fixed, std::strerror(errno)));
    spdlog::warn("{} {} was {:04o}, now {:04o} (it holds secrets: only its owner may read it)", what,
                 path.string(), mode, fixed);
    return {};
  };
  if (auto st = correct(data_dir, 0700, "data directory"); !st) return st;
  for (const char* name :
       {"hookwire.db", "hookwire.db-wal", "hookwire.db-shm", "admin-token", "lock", "token.key"})
    if (auto st = correct(data_dir / name, 0600, "file"); !st) return st;
  return {};
}

Result<AdminToken> resolve_admin_token(const std::string& configured, const fs::path& data_dir) {
  const fs::path file = data_dir / "admin-token";
  if (!configured.empty()) return AdminToken{configured, false, {}};
  std::error_code ec;
  if (fs::exists(file, ec)) {
    std::ifstream in(file);
    std::string token;
    std::getline(in, token);
    if (!in && !in.eof()) return Error::internal("cannot read " + file.string());
    if (token.empty())
      return Error::internal(file.string() + " is empty: delete it to have a new token generated");
    return AdminToken{token, false, file};
  }
  if (auto st = secure_data_dir(data_dir); !st) return st.take_error();
  AdminToken out{"hwk_" + hex_encode(random_bytes(24)), true, file};
  const fs::path tmp = file.string() + ".tmp";
  // Mode 0600 from creation (never readable by others, even for a moment); O_EXCL after removing any stale
  // temporary, whose mode an O_TRUNC would keep.
  ::unlink(tmp.c_str());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return Error::internal(fmt::format("cannot create {}: {}", tmp.string(), std::strerror(errno)));
  const std::string line = out.token + "\n";
  const bool written =
      ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) && ::fsync(fd) == 0;
  const int write_errno = errno;
  ::close(fd);
  if (!written) {
    ::unlink(tmp.c_str());
    return Error::internal(fmt::format("cannot write {}: {}", tmp.string(), std::strerror(write_errno)));
  }
  fs::rename(tmp, file, ec);
  if (ec) return Error::internal("cannot write " + file.string() + ": " + ec.message());
  return out;
}

std::string redact_store_url(std::string_view url) {
  const auto scheme = url.find("://");
  if (scheme == std::string_view::npos) return std::string(url);
  const auto authority = scheme + 3;
  const auto at = url.find('@', authority);
  const auto slash = url.find('/', authority);
  if (at == std::string_view::npos || (slash != std::string_view::npos && slash < at))
    return std::string(url);
  const auto colon = url.find(':', authority);
  if (colon == std::string_view::npos || colon > at) return std::string(url);
  return std::string(url.substr(0, colon + 1)) + "***" + std::string(url.substr(at));
}

Result<std::string> load_token_key(const fs::path& data_dir) {
  const fs::path file = data_dir / "token.key";
  const int fd = ::open(file.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd >= 0) {
    std::string key(api::v1::kTokenKeySize + 1, '\0');
    const ssize_t n = ::read(fd, key.data(), key.size());
    const int read_errno = errno;
    ::close(fd);
    if (n < 0)
      return Error::internal(fmt::format("cannot read {}: {}", file.string(), std::strerror(read_errno)));
    if (static_cast<size_t>(n) != api::v1::kTokenKeySize)
      return Error::internal(fmt::format(
          "{} must hold exactly {} bytes (it has {}): restore it from a backup, or delete it to make a new "
          "key, "
          "which makes the existing poller and app-portal tokens impossible to show again (they keep working "
          "until rotated)",
          file.string(), api::v1::kTokenKeySize, n));
    key.resize(api::v1::kTokenKeySize);
    return key;
  }
  if (errno != ENOENT)
    return Error::internal(fmt::format("cannot open {}: {}", file.string(), std::strerror(errno)));
  // Mode 0600 from creation; written to a temporary and renamed, so a crash never leaves a short key.
  const std::string key = random_bytes(api::v1::kTokenKeySize);
  const fs::path tmp = file.string() + ".tmp";
  ::unlink(tmp.c_str());
  const int out = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (out < 0)
    return Error::internal(fmt::format("cannot create {}: {}", tmp.string(), std::strerror(errno)));
  const bool written =
      ::write(out, key.data(), key.size()) == static_cast<ssize_t>(key.size()) && ::fsync(out) == 0;
  const int write_errno = errno;
  ::close(out);
  if (!written) {
    ::unlink(tmp.c_str());
    return Error::internal(fmt::format("cannot write {}: {}", tmp.string(), std::strerror(write_errno)));
  }
  std::error_code ec;
  fs::rename(tmp, file, ec);
  if (ec) return Error::internal("cannot write " + file.string() + ": " + ec.message());
  spdlog::info("made a new token key in {}", file.string());
  return key;
}

}  // namespace hookwire::app
