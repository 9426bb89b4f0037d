// The source records in the store: create, replace, delete and describe a source together with the
// application it owns and that application's endpoints (its destinations). Functions over a Tx, for the API's
// write/read functions and for the config-file upsert at start; like every write function they may be run
// more than once and act only on the Tx.
#pragma once

#include <boost/json.hpp>
#include <string>
#include <string_view>

#include "core/result.h"
#include "inbound/source.h"
#include "store/store.h"

namespace hookwire::inbound {

// The uid of the pull sink of a source with "pull": true: a pull-only endpoint of the source's application,
// so `GET /api/v1/app/{appId}/poller/pull` reads the source's events. Created and deleted with the setting.
inline constexpr std::string_view kPullSinkUid = "pull";

// A new source: its application ("inbound source <uid or id>"), one endpoint per destination (each with a
// fresh whsec_ secret: hookwire re-signs what it forwards with its own Standard Webhooks signature), the pull
// sink if spec.pull (kPullSinkUid), and the source record. kConflict if the uid is taken.
Result<store::Source> create_source(store::Tx& tx, const SourceSpec& spec, TimePoint now);

// Replaces the source's settings (PUT, or a config-file source at start): the config is replaced, and the
// uid too unless the spec has none (then it is kept),
// the revision goes up; destinations are reconciled with the application's endpoints by URL: missing URLs
// get a new endpoint, endpoints whose URL is no longer listed are deleted, the others (and their secrets)
// are kept. Endpoints added with the Svix endpoint API are destinations too, until a replace drops them;
// pull-only endpoints are sinks, not destinations, and are left alone, but for the pull sink, which exists
// exactly when spec.pull is true (an endpoint with its uid is made pull-only then).
Result<store::Source> replace_source(store::Tx& tx, store::Source existing, const SourceSpec& spec,
                                     TimePoint now);

// The config file's sources made the store's (at start): each spec (marked declared_in_config) is created,
// replaced when something differs, or left alone (its revision unchanged); a source declared by an earlier
// file and absent from this one is deleted with its application. Sources made through the API are left
// alone, unless the file now declares their uid (then the file's spec replaces them). By uid, in each list.
struct DeclaredSync {
  std::vector<std::string> created, updated, unchanged, removed;
};
Result<DeclaredSync> sync_declared_sources(store::Tx& tx, const std::vector<SourceSpec>& specs,
                                           TimePoint now);

// The source that owns the application `app_id` (its appId), if one does. Reads every source (they are few).
Result<std::optional<store::Source>> source_of_application(store::Tx& tx, std::string_view app_id);

// Keeps the mark of a source's application in its metadata ({"hookwireSource": "src_..."}, written at
// creation) through an application update that replaced the metadata: `metadata` (JSON object text) with
// the mark put back. Other applications' metadata is returned as it is.
Result<std::string> keep_source_mark(store::Tx& tx, std::string_view app_id, std::string metadata);

// Deletes the source, its deduplication records and its application (endpoints, messages, attempts).
Status delete_source(store::Tx& tx, std::string_view id_or_uid);

// SourceOut: id, uid, appId, the public spec, createdAt/updatedAt, and "destinations": one
// {"endpointId","url","secret"} per endpoint of the application that is not pull-only — the secret is the
// whsec_ key that the internal service verifies hookwire's signature with.
Result<boost::json::object> source_out(store::Tx& tx, const store::Source& record);

}  // namespace hookwire::inbound
