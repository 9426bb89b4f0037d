#include "store/postgres/store_schema.h"

#include <array>

namespace hookwire::store::postgres {
namespace {

// Step 1: everything SQLite's 16 migrations built, as PostgreSQL has it from the start.
// - Times are bigint unix milliseconds (what SQLite stores, so a record round-trips exactly); booleans are
//   boolean; JSON values are text, never parsed by the database except for the channel filters.
// - Keys and the text columns listings order by are COLLATE "C": ids sort bytewise, the order they are
//   generated in (whatever the database's default collation).
// - No foreign keys: dependants are deleted explicitly, as on SQLite.
// - Idempotency keys and event ids are unique per application through partial unique indexes (SQLite keeps
//   recent keys in the writer's memory, which several nodes cannot share).
// - A message's feed position is a column (`position`, unique), given from `feed_sequence` by the writer
//   that holds its row lock until COMMIT, so positions follow commit order across nodes; `last_id` keeps
//   message ids increasing with positions (pg_tx.h).
// - `feed_state.pruned_through`: where the retained log starts. No high-water mark: `feed_sequence.head`
//   never goes down, so positions are never given twice.
// - Deliveries carry `claim_id`, the claim that leased them (from the sequence `delivery_claims`): the
//   future fencing token of the delivery queue (docs/plans/21-delivery-queue-seam.md), today the row handle
//   a claimed Delivery carries. No `delivery_counts`: the queue figures count the live deliveries through
//   the due index (pg_deliveries.cc says why).
constexpr std::array<std::string_view, 8> kSteps = {
    R"sql(
CREATE TABLE applications (
  id            text COLLATE "C" PRIMARY KEY,
  uid           text COLLATE "C" UNIQUE,
  name          text NOT NULL,
  throttle_rate bigint,
  metadata      text NOT NULL,
  created_at    bigint NOT NULL,
  updated_at    bigint NOT NULL
);

CREATE TABLE event_types (
  name         text COLLATE "C" PRIMARY KEY,
  description  text NOT NULL,
  archived     boolean NOT NULL,
  deprecated   boolean NOT NULL,
  feature_flag text,
  schemas      text,
  created_at   bigint NOT NULL,
  updated_at   bigint NOT NULL
);

CREATE TABLE endpoints (
  id                text COLLATE "C" PRIMARY KEY,
  app_id            text COLLATE "C" NOT NULL,
  uid               text COLLATE "C",
  url               text NOT NULL,
  description       text NOT NULL,
  disabled          boolean NOT NULL,
  rate_limit        bigint,
  event_types       text,
  channels          text,
  metadata          text NOT NULL,
  secrets           text NOT NULL,
  headers           text NOT NULL,
  created_at        bigint NOT NULL,
  updated_at        bigint NOT NULL,
  pull_only         boolean NOT NULL DEFAULT false,
  thin              boolean NOT NULL DEFAULT false,
  signature_headers text,
  UNIQUE (app_id, uid)
);
CREATE INDEX endpoints_by_app ON endpoints (app_id, id);

-- The primary key (app_id, id) lists an application's messages, and reads its feed: ids increase with
-- positions.
CREATE TABLE messages (
  app_id             text COLLATE "C" NOT NULL,
  id                 text COLLATE "C" NOT NULL,
  position           bigint NOT NULL,
  event_id           text COLLATE "C",
  event_type         text COLLATE "C" NOT NULL,
  payload            text NOT NULL,
  channels           text,
  created_at         bigint NOT NULL,
  idempotency_key    text COLLATE "C",
  request_hash       text,
  payload_expires_at bigint,
  headers            text,
  PRIMARY KEY (app_id, id)
);
CREATE UNIQUE INDEX messages_by_position ON messages (position);
CREATE UNIQUE INDEX messages_by_event_id ON messages (app_id, event_id) WHERE event_id IS NOT NULL;
CREATE UNIQUE INDEX messages_by_idempotency_key ON messages (app_id, idempotency_key)
  WHERE idempotency_key IS NOT NULL;
-- Only the payloads still to expire.
CREATE INDEX messages_payload_expiry ON messages (payload_expires_at)
  WHERE payload_expires_at IS NOT NULL AND payload <> '';

CREATE TABLE feed_sequence (
  id      integer PRIMARY KEY CHECK (id = 0),
  head    bigint NOT NULL,
  last_id text COLLATE "C" NOT NULL
);
INSERT INTO feed_sequence VALUES (0, 0, '');
CREATE TABLE feed_state (
  id             integer PRIMARY KEY CHECK (id = 0),
  pruned_through bigint NOT NULL
);
INSERT INTO feed_state VALUES (0, 0);

CREATE TABLE attempts (
  id                   text COLLATE "C" NOT NULL,
  app_id               text COLLATE "C" NOT NULL,
  msg_id               text COLLATE "C" NOT NULL,
  endpoint_id          text COLLATE "C" NOT NULL,
  url                  text NOT NULL,
  status               integer NOT NULL,
  response_status_code integer NOT NULL,
  response             text NOT NULL,
  response_duration_ms bigint NOT NULL,
  trigger_type         integer NOT NULL,
  created_at           bigint NOT NULL,
  PRIMARY KEY (app_id, msg_id, id)
);
CREATE INDEX attempts_by_endpoint ON attempts (app_id, endpoint_id, id);

CREATE TABLE idempotency (
  key          text COLLATE "C" PRIMARY KEY,
  request_hash text NOT NULL,
  status       integer NOT NULL,
  body         text NOT NULL,
  created_at   bigint NOT NULL
);
CREATE INDEX idempotency_by_created_at ON idempotency (created_at);

CREATE SEQUENCE delivery_claims;
CREATE TABLE deliveries (
  id              text COLLATE "C" PRIMARY KEY,
  app_id          text COLLATE "C" NOT NULL,
  msg_id          text COLLATE "C" NOT NULL,
  endpoint_id     text COLLATE "C" NOT NULL,
  status          integer NOT NULL,
  attempts        integer NOT NULL,
  next_attempt_at bigint NOT NULL,
  created_at      bigint NOT NULL,
  updated_at      bigint NOT NULL,
  manual          boolean NOT NULL DEFAULT false,
  claim_id        bigint
);
-- Only live deliveries are in the due index, so finished ones cost a claim nothing; it includes the status so
-- the queue figures count pending and leased ones from the index.
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) INCLUDE (status) WHERE status IN (1, 3);
CREATE INDEX deliveries_by_msg ON deliveries (app_id, msg_id);
-- An endpoint's messages in id order, and the latest delivery of each (message, endpoint) pair.
CREATE INDEX deliveries_by_endpoint ON deliveries (app_id, endpoint_id, msg_id, id);
-- Dead letters of an application; only failed rows are in it.
CREATE INDEX deliveries_failed ON deliveries (app_id, id) WHERE status = 2;
-- Every claim and record rewrites an indexed column (no HOT update): vacuum it early.
ALTER TABLE deliveries SET (autovacuum_vacuum_scale_factor = 0.01, autovacuum_analyze_scale_factor = 0.02);

CREATE TABLE endpoint_health (
  endpoint_id          text COLLATE "C" PRIMARY KEY,
  first_failure_at     bigint,
  last_success_at      bigint,
  consecutive_failures bigint NOT NULL
);

CREATE TABLE sources (
  id         text COLLATE "C" PRIMARY KEY,
  uid        text COLLATE "C" UNIQUE,
  app_id     text COLLATE "C" NOT NULL,
  config     text NOT NULL,
  revision   bigint NOT NULL,
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL
);

CREATE TABLE feed_consumers (
  app_id         text COLLATE "C" NOT NULL,
  endpoint_id    text COLLATE "C" NOT NULL,
  consumer_id    text COLLATE "C" NOT NULL,
  position       bigint NOT NULL,
  leased_through bigint NOT NULL,
  lease_until    bigint,
  updated_at     bigint NOT NULL,
  PRIMARY KEY (app_id, endpoint_id, consumer_id)
);

CREATE TABLE api_tokens (
  id           text COLLATE "C" PRIMARY KEY,
  kind         integer NOT NULL,
  app_id       text COLLATE "C" NOT NULL,
  endpoint_id  text COLLATE "C",
  hash         text COLLATE "C" NOT NULL UNIQUE,
  capabilities text NOT NULL,
  created_at   bigint NOT NULL,
  expires_at   bigint
);
CREATE INDEX api_tokens_by_app ON api_tokens (app_id, endpoint_id);

CREATE TABLE background_tasks (
  id         text COLLATE "C" PRIMARY KEY,
  task       text NOT NULL,
  status     text NOT NULL,
  data       text NOT NULL,
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL
);
CREATE INDEX background_tasks_by_created_at ON background_tasks (created_at);
)sql",
    // 2: the nodes sharing the database, each seen every poll of its feed watcher (live_nodes()): an
    // endpoint's rate limit is divided between the live ones.
    R"sql(
CREATE TABLE hookwire_nodes (
  id      text COLLATE "C" PRIMARY KEY,
  seen_at timestamptz NOT NULL
);
)sql",
    // 3: settings every node agrees on (Tx::setting_or_put): the scoped tokens' key.
    R"sql(
CREATE TABLE hookwire_settings (
  name  text COLLATE "C" PRIMARY KEY,
  value text NOT NULL
);
)sql",
    // 4: a version per change topic (Store::publish_change), raised with each change and read by every node's
    // poll: how changes reach the other nodes without NOTIFY (--store-notify off), or when one is lost.
    R"sql(
CREATE TABLE hookwire_changes (
  topic   text COLLATE "C" PRIMARY KEY,
  version bigint NOT NULL
);
)sql",
    // 5: the requests inbound sources were sent, kept for the console (model.h SourceRequest): at most a
    // hundred per source, the oldest deleted as new ones come (Tx::insert_source_request). Bookkeeping:
    // written in batches with synchronous_commit off.
    R"sql(
CREATE TABLE source_requests (
  id             text COLLATE "C" PRIMARY KEY,
  source_id      text COLLATE "C" NOT NULL,
  received_at    bigint NOT NULL,
  status         integer NOT NULL,
  outcome        text NOT NULL,
  code           text,
  reason         text,
  client_address text NOT NULL,
  method         text NOT NULL,
  path           text NOT NULL,
  headers        text NOT NULL,
  body           text NOT NULL,
  body_truncated boolean NOT NULL,
  body_base64    boolean NOT NULL,
  message_id     text COLLATE "C"
);
CREATE INDEX source_requests_by_source ON source_requests (source_id, id);
)sql",
    // 6: why and when an endpoint was disabled (the endpoint health route, issue #22).
    R"sql(
ALTER TABLE endpoint_health ADD COLUMN disabled_reason text;
ALTER TABLE endpoint_health ADD COLUMN disabled_at bigint;
)sql",
    // 7: the Svix sessionId an app-portal token, link or portal session was issued for (expire-all may name
    // it); NULL when none was given.
    R"sql(
ALTER TABLE api_tokens ADD COLUMN session_id text COLLATE "C";
)sql",
    // 8: the header fields an attempt's request was sent with (Attempt::request_headers); NULL for attempts
    // made before, read as empty.
    R"sql(
ALTER TABLE attempts ADD COLUMN request_headers text;
)sql",
};

}  // namespace

std::span<const std::string_view> store_schema() { return kSteps; }

}  // namespace hookwire::store::postgres
