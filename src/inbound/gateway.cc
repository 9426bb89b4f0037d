#include "inbound/gateway.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <boost/json/basic_parser_impl.hpp>
#include <boost/url/params_view.hpp>
#include <boost/url/parse_query.hpp>
#include <optional>

#include "core/ids.h"
#include "core/names.h"
#include "delivery/publish.h"
#include "store/async.h"

namespace hookwire::inbound {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

constexpr std::array kReasons = {"address_not_allowed",   "too_large",         "missing_header",
                                 "malformed_header",      "timestamp_too_old", "timestamp_too_new",
                                 "no_matching_signature", "not_json",          "invalid_event_type",
                                 "invalid_dedup_key",     "bad_forwarded_for"};
constexpr const char* kNotJson =
    "the body is not JSON (a form is accepted with the content type application/x-www-form-urlencoded)";
// A dedup key becomes the message's idempotency key: the API's rule for those (the `idempotency-key` header)
// is at most 256 bytes of what a header value may hold.
constexpr size_t kMaxDedupKey = 256;

Outcome refuse(int status, std::string_view code, std::string_view detail, std::string_view reason) {
  json::object o{{"code", code}, {"detail", detail}};
  if (!reason.empty()) o["reason"] = reason;
  return {status, json::serialize(o)};
}

// The fields of a form-encoded body (`+` read as a space); nullopt if it is not one.
std::optional<boost::urls::params_view> form_fields(std::string_view body) {
  if (!boost::urls::parse_query(body)) return std::nullopt;  // checked first: params_view throws on it
  boost::urls::encoding_opts form;
  form.space_as_plus = true;
  return boost::urls::params_view(body, form);
}

// GitHub webhooks whose content type is set to `application/x-www-form-urlencoded` send `payload=<the JSON,
// form-encoded>`. The signature covers those form bytes; the event is the JSON. nullopt: no `payload` field.
std::optional<std::string> github_form_payload(std::string_view body) {
  auto fields = form_fields(body);
  if (!fields) return std::nullopt;
  for (const auto& param : *fields)
    if (param.key == "payload" && param.has_value) return param.value;
  return std::nullopt;
}

// Any other form-encoded body becomes a JSON object of its fields, values as strings; a field that repeats
// becomes an array of its values, in order. (Twilio, Mailgun, Slack and PayPal post forms.) The signature was
// checked on the form bytes. nullopt: not a valid form.
std::optional<std::string> form_as_json(std::string_view body) {
  auto params = form_fields(body);
  if (!params) return std::nullopt;
  json::object fields;
  for (const auto& param : *params) {
    if (param.key.empty() && !param.has_value) continue;  // "a=1&&b=2"
    auto [it, inserted] = fields.emplace(param.key, param.value);
    if (inserted) continue;
    if (!it->value().is_array()) {
      json::array values;
      values.push_back(std::move(it->value()));
      it->value() = std::move(values);
    }
    it->value().as_array().emplace_back(param.value);
  }
  return json::serialize(fields);
}

// Asks on every request: ASCII only, no locale (boost::algorithm's iequals and trim consult one per call).
bool is_form(std::optional<std::string_view> content_type) {
  if (!content_type) return false;
  std::string_view type = content_type->substr(0, content_type->find(';'));
  while (!type.empty() && (type.front() == ' ' || type.front() == '\t')) type.remove_prefix(1);
  while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.remove_suffix(1);
  constexpr std::string_view kForm = "application/x-www-form-urlencoded";
  return type.size() == kForm.size() &&
         std::equal(type.begin(), type.end(), kForm.begin(), [](char a, char b) {
           return (a >= 'A' && a <= 'Z' ? static_cast<char>(a - 'A' + 'a') : a) == b;
         });
}

// Whether `text` is one JSON document, checked without building it: most sources take nothing from the
// body (GitHub, Shopify and Standard Webhooks put the event type and id in headers), and the stored
// payload is the bytes themselves. Same grammar as json::parse with default options.
struct JsonCheck {
  static constexpr std::size_t max_object_size = std::size_t(-1);
  static constexpr std::size_t max_array_size = std::size_t(-1);
  static constexpr std::size_t max_key_size = std::size_t(-1);
  static constexpr std::size_t max_string_size = std::size_t(-1);
  bool on_document_begin(boost::system::error_code&) { return true; }
  bool on_document_end(boost::system::error_code&) { return true; }
  bool on_object_begin(boost::system::error_code&) { return true; }
  bool on_object_end(std::size_t, boost::system::error_code&) { return true; }
  bool on_array_begin(boost::system::error_code&) { return true; }
  bool on_array_end(std::size_t, boost::system::error_code&) { return true; }
  bool on_key_part(std::string_view, std::size_t, boost::system::error_code&) { return true; }
  bool on_key(std::string_view, std::size_t, boost::system::error_code&) { return true; }
  bool on_string_part(std::string_view, std::size_t, boost::system::error_code&) { return true; }
  bool on_string(std::string_view, std::size_t, boost::system::error_code&) { return true; }
  bool on_number_part(std::string_view, boost::system::error_code&) { return true; }
  bool on_int64(std::int64_t, std::string_view, boost::system::error_code&) { return true; }
  bool on_uint64(std::uint64_t, std::string_view, boost::system::error_code&) { return true; }
  bool on_double(double, std::string_view, boost::system::error_code&) { return true; }
  bool on_bool(bool, boost::system::error_code&) { return true; }
  bool on_null(boost::system::error_code&) { return true; }
  bool on_comment_part(std::string_view, boost::system::error_code&) { return true; }
  bool on_comment(std::string_view, boost::system::error_code&) { return true; }
};

bool is_json(std::string_view text) {
  json::basic_parser<JsonCheck> parser(json::parse_options{});
  boost::system::error_code ec;
  const auto n = parser.write_some(false, text.data(), text.size(), ec);
  return !ec && n == text.size();
}

bool reads_body(const Extract& what) { return what.from == Extract::From::kJson; }

// The status and code answered for a store error.
std::pair<int, std::string_view> error_answer(const Error& e) {
  switch (e.code) {
    case Errc::kNotFound:
      return {404, "not_found"};
    case Errc::kUnavailable:
      return {503, "unavailable"};
    default:
      return {500, "internal_error"};
  }
}

Outcome from_error(const Error& e) {
  const auto [status, code] = error_answer(e);
  return refuse(status, code, e.detail, {});
}

const json::value* find_path(const json::value* v, std::string_view path) {
  while (v) {
    const auto* obj = v->if_object();
    if (!obj) return nullptr;
    auto dot = path.find('.');
    auto it = obj->find(path.substr(0, dot));
    if (it == obj->end()) return nullptr;
    v = &it->value();
    if (dot == std::string_view::npos) return v;
    path.remove_prefix(dot + 1);
  }
  return nullptr;
}

// Whether the field `what` names is in the request at all (a JSON null counts as absent).
bool present(const Extract& what, const signing::HeaderLookup& headers, const json::value* body) {
  switch (what.from) {
    case Extract::From::kHeader:
      return headers(what.name).has_value();
    case Extract::From::kJson: {
      const auto* v = find_path(body, what.name);
      return v && !v->is_null();
    }
    case Extract::From::kNone:
      break;
  }
  return false;
}

// The provider's headers an accepted event keeps (CompiledSource::kept_headers), as a JSON object of strings;
// nullopt when none is present. A value is kept only if it is a valid field value and UTF-8 (JSON text must
// be), never repaired. One allocation.
std::optional<std::string> kept_headers_json(const std::vector<std::string>& names,
                                             const signing::HeaderLookup& headers) {
  std::optional<std::string> out;
  for (const auto& name : names) {
    const auto value = headers(name);
    if (!value || !is_field_value(*value) || !is_utf8(*value)) continue;
    if (!out) {
      out.emplace();
      out->reserve(256);
      *out += '{';
    } else {
      *out += ',';
    }
    *out += '"';
    *out += name;  // a lowercase field name: nothing to escape
    *out += "\":\"";
    for (char c : *value) {
      if (c == '"' || c == '\\') {
        *out += '\\';
        *out += c;
      } else if (c == '\t') {
        *out += "\\t";
      } else {
        *out += c;
      }
    }
    *out += '"';
  }
  if (out) *out += '}';
  return out;
}

}  // namespace

struct Gateway::Counters {
  metrics::Counter* received = nullptr;
  metrics::Counter* accepted = nullptr;
  metrics::Counter* duplicates = nullptr;
  metrics::Counter* forwarded = nullptr;
  metrics::Counter* unrecorded = nullptr;  // refused by the request log's rate
  std::array<metrics::Counter*, kReasons.size()> rejected{};

  metrics::Counter& rejected_for(std::string_view reason) {
    for (size_t i = 0; i < kReasons.size(); ++i)
      if (reason == kReasons[i]) return *rejected[i];
    return *rejected.back();
  }
};

struct CachedSource {
  CompiledSource source;
  Gateway::Counters* counters = nullptr;
  uint64_t generation = 0;  // the cache's when it was loaded: stale once invalidate() has run since
};

std::string extract(const Extract& what, const signing::HeaderLookup& headers, const json::value* body) {
  switch (what.from) {
    case Extract::From::kHeader: {
      auto v = headers(what.name);
      return v ? std::string(*v) : std::string();
    }
    case Extract::From::kJson: {
      const auto* v = find_path(body, what.name);
      if (!v) return {};
      if (v->is_string()) return std::string(v->as_string());
      if (v->is_int64()) return std::to_string(v->as_int64());
      if (v->is_uint64()) return std::to_string(v->as_uint64());
      return {};
    }
    case Extract::From::kNone:
      break;
  }
  return {};
}

Gateway::Gateway(store::Store& store, const Clock& clock, metrics::Registry& metrics, GatewayOptions options)
    : store_(store),
      clock_(clock),
      metrics_(metrics),
      options_(std::move(options)),
      log_throttle_(clock),
      request_log_(store, clock, metrics, options_.request_log) {
  // Requests for sources that do not exist (the label cannot be the unknown name: it comes from the URL).
  unknown_source_ =
      &metrics_.counter("inbound_rejected_total", "Inbound requests refused, by source and reason.",
                        {{"source", ""}, {"reason", "unknown_source"}});
}

Gateway::~Gateway() = default;

Gateway::Counters& Gateway::counters_for(const std::string& label) {
  std::lock_guard lock(counters_mu_);
  auto& slot = counters_[label];
  if (!slot) {
    slot = std::make_unique<Counters>();
    const metrics::Labels l{{"source", label}};
    slot->received = &metrics_.counter("inbound_received_total", "Inbound requests received, by source.", l);
    slot->accepted = &metrics_.counter("inbound_accepted_total",
                                       "Inbound requests verified and kept (durable before the answer).", l);
    slot->duplicates = &metrics_.counter("inbound_duplicates_total",
                                         "Inbound requests answered 200 as duplicates of a kept one.", l);
    slot->forwarded = &metrics_.counter("inbound_forwarded_total",
                                        "Deliveries of inbound events to a destination that succeeded.", l);
    slot->unrecorded = &metrics_.counter(
        "inbound_requests_unrecorded_total",
        "Inbound requests the request log did not keep: the source was over its records a second.", l);
    for (size_t i = 0; i < kReasons.size(); ++i)
      slot->rejected[i] =
          &metrics_.counter("inbound_rejected_total", "Inbound requests refused, by source and reason.",
                            {{"source", label}, {"reason", kReasons[i]}});
  }
  return *slot;
}

void Gateway::note_source(const store::Source& record) {
  auto& c = counters_for(record.uid.value_or(record.id));
  std::lock_guard lock(counters_mu_);
  forwarded_by_app_[record.app_id] = c.forwarded;
}

void Gateway::note_delivered(const std::string& app_id) {
  std::lock_guard lock(counters_mu_);
  if (auto it = forwarded_by_app_.find(app_id); it != forwarded_by_app_.end()) it->second->inc();
}

void Gateway::invalidate() {
  std::unique_lock lock(mu_);
  generation_.fetch_add(1, std::memory_order_release);
  cache_.clear();
  absent_.clear();
  absent_order_.clear();
  absent_next_ = 0;
}

void Gateway::note_absent(const std::string& key, uint64_t generation) {
  if (store_.shared()) return;  // another node may create it: the next request must ask the store
  if (generation != generation_.load(std::memory_order_relaxed) || absent_.contains(key)) return;
  if (absent_order_.size() < kMaxAbsent) {
    absent_order_.push_back(key);
  } else {
    absent_.erase(absent_order_[absent_next_]);
    absent_order_[absent_next_] = key;
    absent_next_ = (absent_next_ + 1) % kMaxAbsent;
  }
  absent_.insert(key);
}

size_t Gateway::absent_count() const {
  std::shared_lock lock(mu_);
  return absent_.size();
}

Gateway::Lookup Gateway::lookup(std::string_view source) const {
  Lookup out;
  if (!is_token(source)) {
    out.kind = Lookup::Kind::kAbsent;
    return out;
  }
  std::shared_lock lock(mu_);
  if (auto it = cache_.find(source); it != cache_.end()) {
    out.kind = Lookup::Kind::kKnown;
    out.body_limit = it->second->source.spec.body_limit;
    out.entry = it->second;
  } else if (absent_.find(source) != absent_.end()) {
    out.kind = Lookup::Kind::kAbsent;
  }
  return out;
}

Outcome Gateway::not_found(std::string_view source, const asio::ip::address& peer) {
  unknown_source_->inc();
  // The name comes from the URL: quoted in the log only if it is one a source could have.
  log_refusal(is_token(source) ? source : "(invalid name)", "unknown_source", 404, peer.to_string(),
              "no such source");
  return refuse(404, "not_found", fmt::format("no source \"{}\"", source), {});
}

std::optional<Outcome> Gateway::admit(const Lookup& found, std::string_view source,
                                      std::optional<uint64_t> content_length, const asio::ip::address& peer,
                                      const RequestHead& head) {
  if (found.kind == Lookup::Kind::kAbsent) return not_found(source, peer);
  if (found.kind != Lookup::Kind::kKnown || !content_length || *content_length <= found.body_limit)
    return std::nullopt;
  const CompiledSource& src = found.entry->source;
  Counters& counters = *found.entry->counters;
  counters.received->inc();
  counters.rejected_for("too_large").inc();
  // Before the address check (the body is not read, X-Forwarded-For not weighed): the peer is who sent it.
  const auto detail = fmt::format("request body of {} bytes is over this source's limit of {} bytes",
                                  *content_length, src.spec.body_limit);
  log_refusal(src.label, "too_large", 413, fmt::format("{} (before the body was read)", peer.to_string()),
              detail);
  request_log_.record(src, head, {}, {413, "rejected", "too_large", detail, {}, peer.to_string()},
                      *counters.unrecorded);
  return refuse(413, "payload_too_large", detail, "too_large");
}

asio::awaitable<void> Gateway::warm(std::string source) {
  try {
    co_await find(std::move(source));
  } catch (const std::exception&) {
    // Not cached: receive() meets the same error and answers (and logs) it.
  }
}

asio::awaitable<std::shared_ptr<const Gateway::Entry>> Gateway::find(std::string key) {
  uint64_t generation;
  {
    std::shared_lock lock(mu_);
    if (auto it = cache_.find(key); it != cache_.end()) co_return it->second;
    if (absent_.contains(key)) co_return nullptr;
    generation = generation_.load(std::memory_order_relaxed);
  }
  std::function<Result<store::Source>(store::Tx&)> fn = [key](store::Tx& tx) { return tx.get_source(key); };
  auto record = co_await store::read<store::Source>(store_, std::move(fn));
  if (!record) {
    if (record.error().code == Errc::kNotFound) {
      if (is_token(key)) {
        std::unique_lock lock(mu_);
        note_absent(key, generation);
      }
      co_return nullptr;
    }
    throw std::runtime_error("cannot load source: " + record.error().detail);
  }
  co_return cache(*record, generation);
}

std::shared_ptr<const Gateway::Entry> Gateway::cache(const store::Source& record, uint64_t generation) {
  auto compiled = compile(record);
  if (!compiled) throw std::runtime_error(compiled.error().detail);
  note_source(record);
  auto entry = std::make_shared<Entry>();
  entry->source = std::move(*compiled);
  entry->counters = &counters_for(entry->source.label);
  entry->generation = generation;
  std::unique_lock lock(mu_);
  if (generation == generation_.load(std::memory_order_relaxed)) {
    cache_[entry->source.record.id] = entry;
    if (entry->source.record.uid) cache_[*entry->source.record.uid] = entry;
  }
  return entry;
}

asio::awaitable<std::shared_ptr<const Gateway::Entry>> Gateway::current(std::string key,
                                                                        std::shared_ptr<const Entry> entry) {
  if (!is_token(key)) co_return nullptr;  // no source can have this name
  if (!entry) {
    std::shared_lock lock(mu_);
    if (auto it = cache_.find(key); it != cache_.end()) entry = it->second;
  }
  std::function<Result<store::Source>(store::Tx&)> fn = [key](store::Tx& tx) { return tx.get_source(key); };
  auto record = co_await store::read<store::Source>(store_, std::move(fn));
  if (!record && record.error().code != Errc::kNotFound)
    throw std::runtime_error("cannot load source: " + record.error().detail);
  if (record && entry && entry->source.record.id == record->id &&
      entry->source.record.revision == record->revision)
    co_return entry;
  // Changed, deleted or renamed on another node, which this one has not heard of yet: what it caches is
  // stale.
  if (entry) invalidate();
  if (!record) co_return nullptr;
  co_return cache(*record, generation_.load(std::memory_order_acquire));
}

void Gateway::log_refusal(std::string_view label, std::string_view reason, int status,
                          std::string_view client, std::string_view detail) {
  auto verdict = log_throttle_.admit(fmt::format("{}/{}", label, reason));
  if (!verdict) return;
  if (verdict.suppressed > 0) {
    spdlog::warn(
        "inbound request refused: source={} reason={} status={} client={}: {} ({} more like it suppressed)",
        label, reason, status, client, detail, verdict.suppressed);
  } else {
    spdlog::warn("inbound request refused: source={} reason={} status={} client={}: {}", label, reason,
                 status, client, detail);
  }
}

asio::awaitable<Outcome> Gateway::receive(Incoming in) {
  std::shared_ptr<const Entry> entry = std::move(in.source_entry);
  // Found on the head: used unless a source changed since (then looked up again, as any other request).
  if (entry && entry->generation != generation_.load(std::memory_order_acquire)) entry.reset();
  if (!entry || store_.shared()) {
    try {
      std::string key(in.source);
      if (store_.shared()) {
        entry = co_await current(std::move(key), std::move(entry));
      } else {
        entry = co_await find(std::move(key));
      }
    } catch (const std::exception& e) {
      log_refusal(is_token(in.source) ? in.source : "(invalid name)", "unavailable", 503, in.peer.to_string(),
                  e.what());
      co_return refuse(503, "unavailable", e.what(), {});
    }
  }
  if (!entry) co_return not_found(in.source, in.peer);
  const CompiledSource& src = entry->source;
  Counters& counters = *entry->counters;
  counters.received->inc();
  std::string_view forwarded;
  if (!src.proxies.empty())
    if (auto xff = in.headers("x-forwarded-for")) forwarded = *xff;
  // Who sent it, for the log: the client (as far as trusted proxies say) and the peer.
  auto who = [&]() -> std::string {
    const auto client = client_address(in.peer, forwarded, src.proxies);
    if (!client) return fmt::format("unknown (via peer {})", in.peer.to_string());
    if (*client == in.peer) return client->to_string();
    return fmt::format("{} (via peer {})", client->to_string(), in.peer.to_string());
  };
  // The request log's record (request_log.h): `code` is the most precise machine code answered (the
  // refusal's `reason` when it has one), `reason` the human text. The client as the gateway decided it
  // (the peer when X-Forwarded-For could not be read).
  auto keep = [&](int status, std::string_view outcome, std::string_view code, std::string_view detail,
                  std::string_view message_id) {
    const auto client = client_address(in.peer, forwarded, src.proxies);
    request_log_.record(
        src, in.head, in.body,
        {status, outcome, code, detail, message_id, client ? client->to_string() : in.peer.to_string()},
        *counters.unrecorded);
  };
  auto reject = [&](int status, std::string_view code, std::string_view detail, std::string_view reason) {
    counters.rejected_for(reason).inc();
    log_refusal(src.label, reason, status, who(), detail);
    keep(status, "rejected", reason.empty() ? code : reason, detail, {});
    return refuse(status, code, detail, reason);
  };

  if (!src.allowed.empty()) {
    const auto client = client_address(in.peer, forwarded, src.proxies);
    if (!client)
      co_return reject(400, "bad_request",
                       "X-Forwarded-For from a trusted proxy holds an entry that is not an IP address",
                       "bad_forwarded_for");
    if (!address_allowed(*client, src.allowed))
      co_return reject(403, "forbidden",
                       fmt::format("address {} is not allowed to post to this source", client->to_string()),
                       "address_not_allowed");
  }
  if (in.body.size() > src.spec.body_limit)
    co_return reject(413, "payload_too_large",
                     fmt::format("request body of {} bytes is over this source's limit of {} bytes",
                                 in.body.size(), src.spec.body_limit),
                     "too_large");
  const TimePoint now = clock_.now();
  if (src.verifier) {
    auto verdict = src.verifier->verify(in.headers, in.body, unix_seconds(now));
    if (!verdict)
      co_return reject(401, "authentication_failed", verdict.message, signing::to_string(verdict.reason));
  }

  // Messages are JSON documents: a JSON body is stored and forwarded byte for byte. A form-encoded body is
  // converted first: GitHub's is unwrapped (what is kept is the JSON inside it), any other becomes a JSON
  // object of its fields. Anything else is refused.
  std::string_view payload = in.body;
  std::optional<std::string> form_payload;
  if (is_form(in.headers("content-type"))) {
    // JSON labelled as a form is a client's mistake (`curl -d` labels what it sends so): say so.
    if (is_json(in.body))
      co_return reject(400, "bad_request",
                       "the body is JSON but its Content-Type is application/x-www-form-urlencoded (curl -d "
                       "sends that): send it with Content-Type: application/json",
                       "not_json");
    if (src.spec.verifier == VerifierType::kGithub) {
      form_payload = github_form_payload(in.body);
      if (!form_payload)
        co_return reject(400, "bad_request", "a form-encoded GitHub delivery needs a payload field",
                         "not_json");
    } else {
      form_payload = form_as_json(in.body);
      if (!form_payload)
        co_return reject(400, "bad_request", "the body is not valid application/x-www-form-urlencoded",
                         "not_json");
    }
    payload = *form_payload;
  }
  std::array<unsigned char, 4096> scratch;
  json::monotonic_resource mr(scratch.data(), scratch.size());
  json::value body;  // built only when a field is taken from it
  if (reads_body(src.spec.event_type) || reads_body(src.spec.dedup_key)) {
    boost::system::error_code ec;
    body = json::parse(payload, ec, &mr);
    if (ec) co_return reject(400, "bad_request", kNotJson, "not_json");
  } else if (!is_json(payload)) {
    co_return reject(400, "bad_request", kNotJson, "not_json");
  }

  // The event type and dedup key come from the sender: checked, never repaired (an event type is forwarded in
  // the x-hookwire-event-type header; a JSON string may decode to CR/LF). A field present but not a string
  // or number is refused too.
  std::string event_type = extract(src.spec.event_type, in.headers, &body);
  if (src.spec.verifier == VerifierType::kGithub && event_type == "ping") {
    spdlog::debug("inbound ping answered: source={}", src.label);
    co_return Outcome{200, R"({"ok":true,"event":"ping"})"};
  }
  if (event_type.empty() && !present(src.spec.event_type, in.headers, &body)) event_type = "unknown";
  if (!is_inbound_event_type(event_type))
    co_return reject(400, "bad_request",
                     fmt::format("the event type ({}) must match ^[a-zA-Z0-9\\-_.]+$ (parts may be joined by "
                                 "'/'), at most {} characters",
                                 src.spec.event_type.to_string(), kMaxTokenLength),
                     "invalid_event_type");

  std::string dedup_key = extract(src.spec.dedup_key, in.headers, &body);
  if (dedup_key.empty() && src.spec.dedup_key.from == Extract::From::kHeader) {
    // Standard Webhooks senders use either header family.
    if (src.spec.dedup_key.name == "webhook-id")
      dedup_key = extract({Extract::From::kHeader, "svix-id"}, in.headers, nullptr);
    if (src.spec.dedup_key.name == "svix-id")
      dedup_key = extract({Extract::From::kHeader, "webhook-id"}, in.headers, nullptr);
  }
  if (dedup_key.size() > kMaxDedupKey || !is_field_value(dedup_key))
    co_return reject(400, "bad_request",
                     fmt::format("the dedup key ({}) must be at most {} characters, none of them a control "
                                 "character",
                                 src.spec.dedup_key.to_string(), kMaxDedupKey),
                     "invalid_dedup_key");

  store::Message msg;
  msg.app_id = src.record.app_id;
  const std::string msg_event_type = event_type;  // for the debug line
  msg.event_type = std::move(event_type);
  msg.payload = std::string(payload);
  msg.created_at = now;
  // The deduplication key is the message's idempotency key in the source's own application (unique there):
  // store::insert_message_once keeps the first message with it for the TTL.
  if (!dedup_key.empty()) msg.idempotency_key = std::move(dedup_key);
  msg.headers = kept_headers_json(src.kept_headers, in.headers);
  std::function<Result<delivery::Published>(store::Tx&)> fn =
      [msg = std::move(msg), now,
       ttl = src.spec.dedup_ttl](store::Tx& tx) mutable -> Result<delivery::Published> {
    // The source may have been deleted (or its application, through the Svix API) since it was cached:
    // never keep a message nobody can reach.
    if (auto app = tx.get_application(msg.app_id); !app) {
      if (app.error().code == Errc::kNotFound)
        return Error::not_found("this source was deleted, or its application was");
      return app.take_error();
    }
    return delivery::publish(tx, msg, ttl, now);  // a key held within the TTL: a duplicate
  };
  auto kept = co_await store::write<delivery::Published>(store_, std::move(fn));
  if (!kept) {
    const auto answer = error_answer(kept.error());
    log_refusal(src.label, "not_kept", answer.first, who(), kept.error().detail);
    keep(answer.first, "rejected", answer.second, kept.error().detail, {});
    co_return from_error(kept.error());
  }
  // Every request of a source without a verifier is kept (the request inspector); no other source's
  // accepted requests are: they cost nothing here.
  const bool inspected = src.spec.verifier == VerifierType::kNone;
  if (kept->held) {
    counters.duplicates->inc();
    spdlog::debug("inbound duplicate: source={} msg={} (kept before; nothing new)", src.label,
                  kept->held->id);
    if (inspected) keep(200, "duplicate", {}, {}, kept->held->id);
    co_return Outcome{
        200, fmt::format(R"({{"id":"{}","duplicate":true}})", kept->held->id)};  // ids need no escape
  }
  counters.accepted->inc();
  spdlog::debug("inbound event accepted: source={} app={} msg={} event_type={} deliveries={} client={}",
                src.label, src.record.app_id, kept->id, msg_event_type, kept->deliveries, who());
  delivery::published(*kept, options_.on_deliveries_created);
  if (inspected) keep(202, "accepted", {}, {}, kept->id);
  co_return Outcome{202, fmt::format(R"({{"id":"{}"}})", kept->id)};
}

}  // namespace hookwire::inbound
