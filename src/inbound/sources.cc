#include "inbound/sources.h"

#include <hookwire/signing.h>

#include <algorithm>

#include "core/ids.h"

namespace hookwire::inbound {

namespace json = boost::json;

namespace {

Result<std::vector<store::Endpoint>> all_endpoints(store::Tx& tx, const std::string& app_id) {
  std::vector<store::Endpoint> out;
  store::PageQuery q;
  q.limit = 250;
  for (;;) {
    auto page = tx.list_endpoints(app_id, q);
    if (!page) return page.take_error();
    for (auto& ep : page->items) out.push_back(std::move(ep));
    if (page->done || !page->iterator) break;
    q.iterator = page->iterator;
  }
  return out;
}

store::Endpoint new_destination(const store::Source& src, const std::string& url, TimePoint now) {
  store::Endpoint ep;
  ep.id = new_id(id_prefix::kEndpoint, now);
  ep.app_id = src.app_id;
  ep.url = url;
  ep.description = "destination of inbound source " + src.uid.value_or(src.id);
  ep.secrets.push_back({signing::generate_secret(), std::nullopt});
  ep.created_at = now;
  ep.updated_at = now;
  return ep;
}

// Makes the application's destinations those of `spec`: an endpoint for each URL `existing` (its current
// destinations) lacks, with the secret the spec chose or a generated one; a kept endpoint whose secret the
// spec chose otherwise gets that secret (alone: the file's secret is the one in force).
Status add_destinations(store::Tx& tx, const store::Source& src, const SourceSpec& spec,
                        std::vector<store::Endpoint> existing, TimePoint now) {
  for (const auto& url : spec.destinations) {
    const auto chosen = spec.destination_secrets.find(url);
    auto kept = std::find_if(existing.begin(), existing.end(),
                             [&](const store::Endpoint& e) { return e.url == url; });
    if (kept != existing.end()) {
      if (chosen == spec.destination_secrets.end() ||
          (kept->secrets.size() == 1 && kept->secrets.front().key == chosen->second))
        continue;
      kept->secrets = {{chosen->second, std::nullopt}};
      kept->updated_at = now;
      if (auto st = tx.update_endpoint(*kept); !st) return st;
      continue;
    }
    auto ep = new_destination(src, url, now);
    if (chosen != spec.destination_secrets.end()) ep.secrets = {{chosen->second, std::nullopt}};
    if (auto st = tx.insert_endpoint(ep); !st) return st;
    existing.push_back(std::move(ep));
  }
  return {};
}

// Whether replacing `existing` by `spec` would change nothing: the same stored settings, the same
// destination URLs (and chosen secrets), the pull sink as asked.
Result<bool> unchanged(store::Tx& tx, const store::Source& existing, const SourceSpec& spec) {
  if (existing.config != config_json(spec) || (spec.uid && existing.uid != spec.uid)) return false;
  auto endpoints = all_endpoints(tx, existing.app_id);
  if (!endpoints) return endpoints.take_error();
  std::vector<std::string> urls;
  bool sink = false;
  for (const auto& ep : *endpoints) {
    if (ep.pull_only) {
      sink = sink || ep.uid == std::optional<std::string>(std::string(kPullSinkUid));
      continue;
    }
    urls.push_back(ep.url);
    const auto chosen = spec.destination_secrets.find(ep.url);
    if (chosen != spec.destination_secrets.end() &&
        (ep.secrets.size() != 1 || ep.secrets.front().key != chosen->second))
      return false;
  }
  std::vector<std::string> wanted = spec.destinations;
  std::sort(urls.begin(), urls.end());
  std::sort(wanted.begin(), wanted.end());
  return urls == wanted && sink == spec.pull;
}

// The pull sink: an endpoint of the source's application with uid `pull`, pull-only, present exactly when
// the source has "pull": true. Its URL is never called (pull-only); `.invalid` names no host (RFC 2606).
Status reconcile_pull_sink(store::Tx& tx, const store::Source& src, bool pull, TimePoint now) {
  auto sink = tx.get_endpoint(src.app_id, kPullSinkUid);
  if (!sink && sink.error().code != Errc::kNotFound) return sink.take_error();
  if (!pull) {
    if (sink && sink->pull_only) return tx.delete_endpoint(src.app_id, sink->id);
    return {};
  }
  if (sink) {
    if (sink->pull_only) return {};  // kept as it is (its consumers' places are its)
    sink->pull_only = true;          // made with the endpoint API: pull is asked for, so it becomes the sink
    sink->updated_at = now;
    return tx.update_endpoint(*sink);
  }
  store::Endpoint ep = new_destination(src, "https://pull.invalid/", now);
  ep.uid = std::string(kPullSinkUid);
  ep.description = "pull sink of inbound source " + src.uid.value_or(src.id);
  ep.pull_only = true;
  return tx.insert_endpoint(ep);
}

}  // namespace

Result<store::Source> create_source(store::Tx& tx, const SourceSpec& spec, TimePoint now) {
  store::Source src;
  src.id = new_id(id_prefix::kSource, now);
  src.uid = spec.uid;
  src.config = config_json(spec);
  src.revision = 1;
  src.created_at = now;
  src.updated_at = now;

  store::Application app;
  app.id = new_id(id_prefix::kApplication, now);
  app.name = "inbound source " + spec.uid.value_or(src.id);
  app.metadata = json::serialize(json::object{{"hookwireSource", src.id}});
  app.created_at = now;
  app.updated_at = now;
  src.app_id = app.id;

  if (auto st = tx.insert_source(src); !st) return st.take_error();
  if (auto st = tx.insert_application(app); !st) return st.take_error();
  if (auto st = add_destinations(tx, src, spec, {}, now); !st) return st.take_error();
  if (auto st = reconcile_pull_sink(tx, src, spec.pull, now); !st) return st.take_error();
  return src;
}

Result<store::Source> replace_source(store::Tx& tx, store::Source existing, const SourceSpec& spec,
                                     TimePoint now) {
  if (spec.uid) existing.uid = spec.uid;  // omitted: kept (a PUT must not silently break /in/{uid})
  existing.config = config_json(spec);
  existing.revision += 1;
  existing.updated_at = now;
  if (auto st = tx.update_source(existing); !st) return st.take_error();
  auto endpoints = all_endpoints(tx, existing.app_id);
  if (!endpoints) return endpoints.take_error();
  std::vector<store::Endpoint> kept;
  for (auto& ep : *endpoints) {
    if (ep.pull_only) continue;  // a sink, not a destination: the pull sink is reconciled below
    if (std::find(spec.destinations.begin(), spec.destinations.end(), ep.url) == spec.destinations.end()) {
      if (auto st = tx.delete_endpoint(existing.app_id, ep.id); !st) return st.take_error();
    } else {
      kept.push_back(std::move(ep));
    }
  }
  if (auto st = add_destinations(tx, existing, spec, std::move(kept), now); !st) return st.take_error();
  if (auto st = reconcile_pull_sink(tx, existing, spec.pull, now); !st) return st.take_error();
  return existing;
}

Result<DeclaredSync> sync_declared_sources(store::Tx& tx, const std::vector<SourceSpec>& specs,
                                           TimePoint now) {
  DeclaredSync out;
  for (SourceSpec spec : specs) {
    spec.declared_in_config = true;
    if (!spec.uid) return Error::validation("uid", "a source declared in the config file needs a uid");
    auto existing = tx.get_source(*spec.uid);
    if (!existing) {
      if (existing.error().code != Errc::kNotFound) return existing.take_error();
      auto made = create_source(tx, spec, now);
      if (!made) return made.take_error();
      out.created.push_back(*spec.uid);
      continue;
    }
    auto same = unchanged(tx, *existing, spec);
    if (!same) return same.take_error();
    if (*same) {
      out.unchanged.push_back(*spec.uid);
      continue;
    }
    auto replaced = replace_source(tx, std::move(*existing), spec, now);
    if (!replaced) return replaced.take_error();
    out.updated.push_back(*spec.uid);
  }
  // Sources the file declared before and declares no more.
  store::PageQuery q;
  q.limit = 250;
  std::vector<store::Source> gone;
  for (;;) {
    auto page = tx.list_sources(q);
    if (!page) return page.take_error();
    for (auto& src : page->items) {
      const bool declared_now =
          std::any_of(specs.begin(), specs.end(), [&](const SourceSpec& s) { return s.uid == src.uid; });
      if (declared_now) continue;
      auto spec = spec_from_config(src.config);
      if (!spec) return spec.take_error();
      if (spec->declared_in_config) gone.push_back(std::move(src));
    }
    if (page->done || !page->iterator) break;
    q.iterator = page->iterator;
  }
  for (const auto& src : gone) {
    if (auto st = delete_source(tx, src.id); !st) return st.take_error();
    out.removed.push_back(src.uid.value_or(src.id));
  }
  return out;
}

Result<std::optional<store::Source>> source_of_application(store::Tx& tx, std::string_view app_id) {
  store::PageQuery q;
  q.limit = 250;
  for (;;) {
    auto page = tx.list_sources(q);
    if (!page) return page.take_error();
    for (auto& src : page->items)
      if (src.app_id == app_id) return std::optional<store::Source>(std::move(src));
    if (page->done || !page->iterator) break;
    q.iterator = page->iterator;
  }
  return std::optional<store::Source>();
}

Result<std::string> keep_source_mark(store::Tx& tx, std::string_view app_id, std::string metadata) {
  auto owner = source_of_application(tx, app_id);
  if (!owner) return owner.take_error();
  if (!*owner) return metadata;
  boost::system::error_code ec;
  auto v = json::parse(metadata, ec);
  if (ec || !v.is_object()) return Error::internal("application metadata is not a JSON object");
  v.as_object()["hookwireSource"] = (*owner)->id;
  return json::serialize(v);
}

Status delete_source(store::Tx& tx, std::string_view id_or_uid) {
  auto src = tx.get_source(id_or_uid);
  if (!src) return src.take_error();
  if (auto st = tx.delete_source(src->id); !st) return st;
  auto st = tx.delete_application(src->app_id);
  if (!st && st.error().code != Errc::kNotFound) return st;
  return {};
}

Result<json::object> source_out(store::Tx& tx, const store::Source& record) {
  auto spec = spec_from_config(record.config);
  if (!spec) return spec.take_error();
  json::object o;
  o["id"] = record.id;
  if (record.uid) {
    o["uid"] = *record.uid;
  } else {
    o["uid"] = nullptr;
  }
  o["appId"] = record.app_id;
  for (auto& kv : public_json(*spec)) o[kv.key()] = kv.value();
  auto endpoints = all_endpoints(tx, record.app_id);
  if (!endpoints) return endpoints.take_error();
  json::array destinations;
  for (const auto& ep : *endpoints) {
    if (ep.pull_only) continue;  // sinks are read, not forwarded to (the pull sink: uid "pull")
    json::object d{{"endpointId", ep.id}, {"url", ep.url}, {"disabled", ep.disabled}};
    d["secret"] = ep.secrets.empty() ? std::string() : ep.secrets.front().key;
    destinations.push_back(std::move(d));
  }
  o["destinations"] = std::move(destinations);
  o["revision"] = record.revision;
  o["createdAt"] = format_iso8601(record.created_at);
  o["updatedAt"] = format_iso8601(record.updated_at);
  return o;
}

}  // namespace hookwire::inbound
