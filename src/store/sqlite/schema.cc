#include "store/sqlite/schema.h"

#include <fmt/format.h>

#include <array>
#include <filesystem>

namespace hookwire::store {
namespace {

// Times are INTEGER unix milliseconds; booleans are INTEGER 0/1; JSON values are TEXT. Text keys compare
// bytewise (SQLite's BINARY collation), which is the order ids are generated in; a PostgreSQL port must use
// COLLATE "C" for the same order. No foreign keys: dependants are deleted explicitly.
constexpr std::array kMigrations = {
    // 1: the initial schema.
    R"sql(
CREATE TABLE applications (
  id            TEXT PRIMARY KEY,
  uid           TEXT UNIQUE,
  name          TEXT NOT NULL,
  throttle_rate INTEGER,
  metadata      TEXT NOT NULL,
  created_at    INTEGER NOT NULL,
  updated_at    INTEGER NOT NULL
);

CREATE TABLE event_types (
  name         TEXT PRIMARY KEY,
  description  TEXT NOT NULL,
  archived     INTEGER NOT NULL,
  deprecated   INTEGER NOT NULL,
  feature_flag TEXT,
  schemas      TEXT,
  created_at   INTEGER NOT NULL,
  updated_at   INTEGER NOT NULL
);

CREATE TABLE endpoints (
  id          TEXT PRIMARY KEY,
  app_id      TEXT NOT NULL,
  uid         TEXT,
  url         TEXT NOT NULL,
  description TEXT NOT NULL,
  disabled    INTEGER NOT NULL,
  rate_limit  INTEGER,
  event_types TEXT,
  channels    TEXT,
  metadata    TEXT NOT NULL,
  secrets     TEXT NOT NULL,
  headers     TEXT NOT NULL,
  created_at  INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL,
  UNIQUE (app_id, uid)
);
CREATE INDEX endpoints_by_app ON endpoints (app_id, id);

-- The primary key (app_id, id) is also the index messages are listed by.
CREATE TABLE messages (
  app_id     TEXT NOT NULL,
  id         TEXT NOT NULL,
  event_id   TEXT,
  event_type TEXT NOT NULL,
  payload    TEXT NOT NULL,
  channels   TEXT,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (app_id, id)
);
CREATE UNIQUE INDEX messages_by_event_id ON messages (app_id, event_id) WHERE event_id IS NOT NULL;

CREATE TABLE attempts (
  id                   TEXT PRIMARY KEY,
  app_id               TEXT NOT NULL,
  msg_id               TEXT NOT NULL,
  endpoint_id          TEXT NOT NULL,
  url                  TEXT NOT NULL,
  status               INTEGER NOT NULL,
  response_status_code INTEGER NOT NULL,
  response             TEXT NOT NULL,
  response_duration_ms INTEGER NOT NULL,
  trigger_type         INTEGER NOT NULL,
  created_at           INTEGER NOT NULL
);
CREATE INDEX attempts_by_msg ON attempts (app_id, msg_id, id);
CREATE INDEX attempts_by_endpoint ON attempts (app_id, endpoint_id, id);

CREATE TABLE idempotency (
  key          TEXT PRIMARY KEY,
  request_hash TEXT NOT NULL,
  status       INTEGER NOT NULL,
  body         TEXT NOT NULL,
  created_at   INTEGER NOT NULL
);
CREATE INDEX idempotency_by_created_at ON idempotency (created_at);
)sql",
    // 2: deliveries (fan-out of messages to endpoints, driven by the dispatcher).
    R"sql(
CREATE TABLE deliveries (
  id              TEXT PRIMARY KEY,
  app_id          TEXT NOT NULL,
  msg_id          TEXT NOT NULL,
  endpoint_id     TEXT NOT NULL,
  status          INTEGER NOT NULL,
  attempts        INTEGER NOT NULL,
  next_attempt_at INTEGER NOT NULL,
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL
);
-- Only live deliveries are in the due index, so finished ones cost the dispatcher nothing.
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status IN (1, 3);
CREATE INDEX deliveries_by_msg ON deliveries (app_id, msg_id);
)sql",
    // 3: endpoint health (failing streaks, for auto-disable).
    R"sql(
CREATE TABLE endpoint_health (
  endpoint_id          TEXT PRIMARY KEY,
  first_failure_at     INTEGER,
  last_success_at      INTEGER,
  consecutive_failures INTEGER NOT NULL
);
)sql",
    // 4: delivery status listings (an endpoint's messages, dead letters) and manual resends.
    R"sql(
ALTER TABLE deliveries ADD COLUMN manual INTEGER NOT NULL DEFAULT 0;
-- An endpoint's messages in id order, and the latest delivery of each (message, endpoint) pair.
CREATE INDEX deliveries_by_endpoint ON deliveries (app_id, endpoint_id, msg_id, id);
-- Dead letters of an application, newest first; only failed rows are in it.
CREATE INDEX deliveries_failed ON deliveries (app_id, id) WHERE status = 2;
)sql",
    // 5: the due index also holds the status, so the queue metrics count a large backlog from the index alone
    // (without reading a table row per live delivery).
    R"sql(
DROP INDEX deliveries_due;
CREATE INDEX deliveries_due ON deliveries (next_attempt_at, status) WHERE status IN (1, 3);
)sql",
    // 6: inbound sources and their deduplication records.
    R"sql(
CREATE TABLE sources (
  id         TEXT PRIMARY KEY,
  uid        TEXT UNIQUE,
  app_id     TEXT NOT NULL,
  config     TEXT NOT NULL,
  revision   INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);

CREATE TABLE inbound_dedup (
  source_id  TEXT NOT NULL,
  key        TEXT NOT NULL,
  msg_id     TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (source_id, key)
) WITHOUT ROWID;
CREATE INDEX inbound_dedup_by_expiry ON inbound_dedup (expires_at);
)sql",
    // 7: message creation keeps its idempotency record in the message row: one index entry per keyed message
    // instead of a row (with a copy of the answer) and two index entries in `idempotency`. Inbound sources
    // keep their deduplication keys there too (each source has its own application), instead of
    // `inbound_dedup`.
    R"sql(
ALTER TABLE messages ADD COLUMN idempotency_key TEXT;
ALTER TABLE messages ADD COLUMN request_hash TEXT;
CREATE UNIQUE INDEX messages_by_idempotency_key ON messages (app_id, idempotency_key)
  WHERE idempotency_key IS NOT NULL;
DROP TABLE inbound_dedup;
)sql",
    // 8: attempts lose the primary key on `id` (its index was never read: every lookup names the message or
    // the endpoint); ids stay unique per message through `attempts_by_msg`. One B-tree fewer per attempt,
    // the costliest row the delivery path writes.
    R"sql(
CREATE TABLE attempts_v8 (
  id                   TEXT NOT NULL,
  app_id               TEXT NOT NULL,
  msg_id               TEXT NOT NULL,
  endpoint_id          TEXT NOT NULL,
  url                  TEXT NOT NULL,
  status               INTEGER NOT NULL,
  response_status_code INTEGER NOT NULL,
  response             TEXT NOT NULL,
  response_duration_ms INTEGER NOT NULL,
  trigger_type         INTEGER NOT NULL,
  created_at           INTEGER NOT NULL
);
INSERT INTO attempts_v8 SELECT id, app_id, msg_id, endpoint_id, url, status, response_status_code, response,
  response_duration_ms, trigger_type, created_at FROM attempts;
DROP TABLE attempts;
ALTER TABLE attempts_v8 RENAME TO attempts;
CREATE UNIQUE INDEX attempts_by_msg ON attempts (app_id, msg_id, id);
CREATE INDEX attempts_by_endpoint ON attempts (app_id, endpoint_id, id);
)sql",
    // 9: idempotency keys leave the unique index on `messages`, where each random key dirtied an index page
    // per message: new keys go to `message_keys_log` (appended) and are folded into `message_keys` in
    // batches, in key order (store/sqlite/recent_keys.h). msg_rowid is the message row's rowid. The key leads
    // the primary key: it is what differs between entries.
    R"sql(
CREATE TABLE message_keys (
  key       TEXT NOT NULL,
  app_id    TEXT NOT NULL,
  msg_rowid INTEGER NOT NULL,
  PRIMARY KEY (key, app_id)
) WITHOUT ROWID;
CREATE TABLE message_keys_log (
  app_id    TEXT NOT NULL,
  key       TEXT NOT NULL,
  msg_rowid INTEGER NOT NULL
);
INSERT INTO message_keys SELECT idempotency_key, app_id, rowid FROM messages WHERE idempotency_key IS NOT NULL;
DROP INDEX messages_by_idempotency_key;
)sql",
    // 10: the keys not yet folded are read back at open from the messages above `folded_up_to` (the rowid of
    // the newest message whose key a fold has put in `message_keys`) instead of from a log of their own: one
    // row and one page write fewer per keyed message. The log's keys go into the index now. Message rowids
    // are assigned by the writer from then on, always above every earlier one (recent_keys.h).
    R"sql(
INSERT OR REPLACE INTO message_keys (key, app_id, msg_rowid)
  SELECT key, app_id, msg_rowid FROM message_keys_log ORDER BY rowid;
DROP TABLE message_keys_log;
CREATE TABLE message_keys_state (
  id           INTEGER PRIMARY KEY CHECK (id = 0),
  folded_up_to INTEGER NOT NULL
);
INSERT INTO message_keys_state VALUES (0, COALESCE((SELECT max(rowid) FROM messages), 0));
)sql",
    // 11: the index keeps a 64-bit hash of (application, key) and the message rowid instead of both texts
    // (recent_keys.h): ~14-byte entries instead of ~75, so folding rewrites a fifth of the pages and compares
    // integers. hookwire_key_hash() is the SQL function every connection has (connection.cc).
    R"sql(
CREATE TABLE message_keys_hashed (
  hash      INTEGER NOT NULL,
  msg_rowid INTEGER NOT NULL,
  PRIMARY KEY (hash, msg_rowid)
) WITHOUT ROWID;
INSERT OR IGNORE INTO message_keys_hashed
  SELECT hookwire_key_hash(app_id, key), msg_rowid FROM message_keys ORDER BY 1, 2;  -- in the index's order
DROP TABLE message_keys;
ALTER TABLE message_keys_hashed RENAME TO message_keys;
)sql",
    // 12: counters of live deliveries by status (1 pending, 3 leased in the store), kept by triggers in the
    // transaction that changes a delivery, so the queue metrics read two rows instead of counting the queue
    // at every scrape (200,000 pending took 19 ms a scrape). Counted once here.
    R"sql(
CREATE TABLE delivery_counts (
  status INTEGER PRIMARY KEY,
  n      INTEGER NOT NULL
);
INSERT INTO delivery_counts
  SELECT 1, (SELECT count(*) FROM deliveries WHERE status = 1)
  UNION ALL SELECT 3, (SELECT count(*) FROM deliveries WHERE status = 3);
CREATE TRIGGER delivery_counts_insert AFTER INSERT ON deliveries WHEN NEW.status IN (1, 3) BEGIN
  UPDATE delivery_counts SET n = n + 1 WHERE status = NEW.status;
END;
CREATE TRIGGER delivery_counts_delete AFTER DELETE ON deliveries WHEN OLD.status IN (1, 3) BEGIN
  UPDATE delivery_counts SET n = n - 1 WHERE status = OLD.status;
END;
CREATE TRIGGER delivery_counts_update AFTER UPDATE OF status ON deliveries
  WHEN OLD.status IS NOT NEW.status AND (OLD.status IN (1, 3) OR NEW.status IN (1, 3)) BEGIN
  UPDATE delivery_counts SET n = n - 1 WHERE status = OLD.status;
  UPDATE delivery_counts SET n = n + 1 WHERE status = NEW.status;
END;
)sql",
    // 13: the pull door (feed). A message's position is its rowid (assigned by the writer in commit order);
    // `messages_by_app_position` holds (app_id, rowid): one application's messages in position order.
    // `feed_state` keeps where the retained log starts (pruned_through) and the highest position ever given
    // (high_water, raised before messages are deleted) so that positions are never given twice. Expiring
    // payloads are found through a partial index that only holds the payloads still to expire (a message
    // without an expiry costs nothing). Consumers are the server-held cursors of sinks; api_tokens the scoped
    // credentials (hashed).
    R"sql(
CREATE INDEX messages_by_app_position ON messages (app_id);
ALTER TABLE messages ADD COLUMN payload_expires_at INTEGER;
ALTER TABLE messages ADD COLUMN headers TEXT;
CREATE INDEX messages_payload_expiry ON messages (payload_expires_at)
  WHERE payload_expires_at IS NOT NULL AND payload <> '';
ALTER TABLE endpoints ADD COLUMN pull_only INTEGER NOT NULL DEFAULT 0;
ALTER TABLE endpoints ADD COLUMN thin INTEGER NOT NULL DEFAULT 0;
CREATE TABLE feed_state (
  id             INTEGER PRIMARY KEY CHECK (id = 0),
  pruned_through INTEGER NOT NULL,
  high_water     INTEGER NOT NULL
);
INSERT INTO feed_state VALUES (0, 0, max(COALESCE((SELECT max(rowid) FROM messages), 0),
                                        (SELECT folded_up_to FROM message_keys_state)));
CREATE TABLE feed_consumers (
  app_id         TEXT NOT NULL,
  endpoint_id    TEXT NOT NULL,
  consumer_id    TEXT NOT NULL,
  position       INTEGER NOT NULL,
  leased_through INTEGER NOT NULL,
  lease_until    INTEGER,
  updated_at     INTEGER NOT NULL,
  PRIMARY KEY (app_id, endpoint_id, consumer_id)
) WITHOUT ROWID;
CREATE TABLE api_tokens (
  id           TEXT PRIMARY KEY,
  kind         INTEGER NOT NULL,
  app_id       TEXT NOT NULL,
  endpoint_id  TEXT,
  hash         TEXT NOT NULL UNIQUE,
  capabilities TEXT NOT NULL,
  created_at   INTEGER NOT NULL,
  expires_at   INTEGER
);
CREATE INDEX api_tokens_by_app ON api_tokens (app_id, endpoint_id);
)sql",
    // 14: the writer gives message ids as well as rowids, both in insert order (MessageSequence in
    // sqlite_tx.h), so from here on an application's messages in id order are in position order: the primary
    // key (app_id, id) serves the feed, and `messages_by_app_position` goes. It cost every message a dirty
    // page per application a batch touched (a quarter of ingest across 1,100 applications). The messages
    // already stored had ids given before their rowids (not always in the same order): up to
    // `legacy_through` (the largest rowid now; substituted for @LEGACY_THROUGH@ by migrate()) the feed reads
    // them through a partial index that holds only them. `legacy_max_id` is their largest id, below every id
    // given from now on.
    R"sql(
DROP INDEX messages_by_app_position;
CREATE INDEX messages_by_app_legacy_position ON messages (app_id) WHERE rowid <= @LEGACY_THROUGH@;
ALTER TABLE feed_state ADD COLUMN legacy_through INTEGER NOT NULL DEFAULT 0;
ALTER TABLE feed_state ADD COLUMN legacy_max_id TEXT NOT NULL DEFAULT '';
UPDATE feed_state SET legacy_through = @LEGACY_THROUGH@,
                      legacy_max_id = COALESCE((SELECT max(id) FROM messages), '');
)sql",
    // 15: an endpoint may choose its signature header family ("webhook" or "svix"; NULL: the server's).
    R"sql(
ALTER TABLE endpoints ADD COLUMN signature_headers TEXT;
)sql",
    // 16: Svix's background tasks, kept with their results (recover, replays, expunge-all, statistics); the
    // janitor prunes them by age.
    R"sql(
CREATE TABLE background_tasks (
  id         TEXT PRIMARY KEY,
  task       TEXT NOT NULL,
  status     TEXT NOT NULL,
  data       TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX background_tasks_by_created_at ON background_tasks (created_at);
)sql",
    // 17: the fence of a delivery leased in its row (SqliteOptions::row_leases): the claim that holds it, so
    // the record of a holder whose lease was taken over is refused. NULL when not leased in the row.
    R"sql(
ALTER TABLE deliveries ADD COLUMN claim_id INTEGER;
)sql",
    // 18: settings every node sharing a store agrees on (Tx::setting_or_put).
    R"sql(
CREATE TABLE settings (
  name  TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
)sql",
    // 19: the requests inbound sources were sent, kept for the console (model.h SourceRequest): at most a
    // hundred per source, the oldest deleted as new ones come (Tx::insert_source_request).
    R"sql(
CREATE TABLE source_requests (
  id             TEXT PRIMARY KEY,
  source_id      TEXT NOT NULL,
  received_at    INTEGER NOT NULL,
  status         INTEGER NOT NULL,
  outcome        TEXT NOT NULL,
  code           TEXT,
  reason         TEXT,
  client_address TEXT NOT NULL,
  method         TEXT NOT NULL,
  path           TEXT NOT NULL,
  headers        TEXT NOT NULL,
  body           TEXT NOT NULL,
  body_truncated INTEGER NOT NULL,
  body_base64    INTEGER NOT NULL,
  message_id     TEXT
);
CREATE INDEX source_requests_by_source ON source_requests (source_id, id);
)sql",
    // 20: why and when an endpoint was disabled (the endpoint health route, issue #22).
    R"sql(
ALTER TABLE endpoint_health ADD COLUMN disabled_reason TEXT;
ALTER TABLE endpoint_health ADD COLUMN disabled_at INTEGER;
)sql",
    // 21: the Svix sessionId an app-portal token, link or portal session was issued for (expire-all may name
    // it); NULL when none was given.
    R"sql(
ALTER TABLE api_tokens ADD COLUMN session_id TEXT;
)sql",
    // 22: the header fields an attempt's request was sent with (Attempt::request_headers); NULL for attempts
    // made before, read as empty.
    R"sql(
ALTER TABLE attempts ADD COLUMN request_headers TEXT;
)sql",
};

// The marker a migration's text holds where the largest message rowid at the time it runs goes (a partial
// index's WHERE must be a literal).
constexpr std::string_view kLegacyThroughMarker = "@LEGACY_THROUGH@";

// `sql` with every kLegacyThroughMarker replaced by the largest message rowid (0 when there is none).
Result<std::string> with_legacy_through(Connection& conn, std::string sql) {
  if (sql.find(kLegacyThroughMarker) == std::string::npos) return sql;
  auto stmt = conn.prepare("SELECT COALESCE(max(rowid), 0) FROM messages");
  if (!stmt.ok()) return stmt.take_error();
  Stmt s(*stmt);
  if (s.step() != SQLITE_ROW) return conn.error("largest message rowid");
  const std::string value = std::to_string(s.int64(0));
  for (size_t at; (at = sql.find(kLegacyThroughMarker)) != std::string::npos;)
    sql.replace(at, kLegacyThroughMarker.size(), value);
  return sql;
}

int user_version(Connection& conn) {
  auto stmt = conn.prepare("PRAGMA user_version");
  if (!stmt.ok()) return -1;
  Stmt s(*stmt);
  return s.step() == SQLITE_ROW ? static_cast<int>(s.int64(0)) : -1;
}

}  // namespace

int latest_schema_version() { return static_cast<int>(kMigrations.size()); }

namespace {
Error not_hookwire(const std::string& path, std::string_view why) {
  return Error::internal(fmt::format(
      "database {} is not a hookwire database ({}): nothing was changed; restore it from a backup, "
      "or move it away to start with an empty database",
      path, why));
}

}  // namespace

Status check_database_file(const std::string& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) return {};  // absent (or unreadable: opening it will say so): a new database
  std::error_code wal_ec;
  const auto wal_size = std::filesystem::file_size(path + "-wal", wal_ec);
  // SQLite would silently start a new database in an empty file (truncated by a bad copy or a full disk).
  // It may be empty only with pages in its WAL (a crash before the first checkpoint).
  if (size == 0 && (wal_ec || wal_size == 0)) return not_hookwire(path, "the file is empty");
  // Read on a connection of its own, before the store's connections configure (and so read) the file.
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  sqlite3_stmt* stmt = nullptr;
  if (rc == SQLITE_OK) {
    rc =
        sqlite3_prepare_v2(db,
                           "SELECT (SELECT count(*) FROM sqlite_master), (SELECT count(*) FROM sqlite_master "
                           "WHERE type = 'table' AND name IN ('applications', 'messages'))",
                           -1, &stmt, nullptr);
  }
  int64_t objects = 0, ours = 0;
  if (rc == SQLITE_OK) {
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
      objects = sqlite3_column_int64(stmt, 0);
      ours = sqlite3_column_int64(stmt, 1);
    }
  }
  sqlite3_finalize(stmt);
  int version = -1;
  if (rc == SQLITE_ROW && sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &stmt, nullptr) == SQLITE_OK) {
    if (sqlite3_step(stmt) == SQLITE_ROW) version = sqlite3_column_int(stmt, 0);
    sqlite3_finalize(stmt);
  }
  const int code = db ? sqlite3_extended_errcode(db) & 0xff : rc & 0xff;
  const std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  sqlite3_close(db);
  if (rc != SQLITE_ROW) {
    if (code == SQLITE_NOTADB) return not_hookwire(path, "the file is not a SQLite database");
    if (code == SQLITE_CORRUPT) return not_hookwire(path, "the file is damaged: " + msg);
    return Error::internal(fmt::format("database {}: cannot read it: {}", path, msg));
  }
  if (version < 0) return not_hookwire(path, "its schema version cannot be read");
  if (version == 0 && objects > 0) return not_hookwire(path, "it holds tables, none of them hookwire's");
  if (version > 0 && ours != 2)
    return not_hookwire(path, fmt::format("schema version {} but without hookwire's tables", version));
  return {};
}

Status migrate(Connection& conn, const std::string& path, int target) {
  if (target < 0 || target > latest_schema_version()) target = latest_schema_version();
  auto fail = [&](std::string_view what, const Error& e) {
    return Error::internal(fmt::format("database {}: {}: {}", path, what, e.detail));
  };
  // 8 KiB pages for a new file (an existing one keeps its size: this is a no-op once it has tables). A 1 KB
  // event row takes a smaller share of a page, so a commit writes fewer WAL frames, and SQLite writes each
  // frame with two system calls; bench/inbound measured 4-8 % more events per second than with 4 KiB.
  if (auto st = conn.exec("PRAGMA page_size = 8192"); !st.ok())
    return fail("cannot set the page size", st.error());
  // WAL lets readers see a consistent snapshot while the writer commits, and makes a commit one append + one
  // fsync. It is persistent in the file, so setting it once per open is enough.
  {
    auto stmt = conn.prepare("PRAGMA journal_mode=WAL");
    if (!stmt.ok()) return fail("cannot enable WAL", stmt.error());
    Stmt s(*stmt);
    if (s.step() != SQLITE_ROW || s.text(0) != "wal") {
      return Error::internal(fmt::format("database {}: cannot enable WAL journal mode", path));
    }
  }
  if (auto st = conn.exec("BEGIN IMMEDIATE"); !st.ok()) return fail("cannot lock for migration", st.error());
  auto rollback = [&](Error e) {
    (void)conn.exec("ROLLBACK");
    return e;
  };
  const int current = user_version(conn);
  if (current < 0) return rollback(fail("cannot read schema version", conn.detailed_error("user_version")));
  if (current > latest_schema_version()) {
    return rollback(Error::internal(
        fmt::format("database {} has schema version {}, newer than the newest this hookwire knows ({}); "
                    "upgrade hookwire or use another data directory",
                    path, current, latest_schema_version())));
  }
  for (int v = current; v < target; ++v) {
    auto sql = with_legacy_through(conn, kMigrations[v]);
    if (!sql.ok())
      return rollback(fail(fmt::format("migration to schema version {} failed", v + 1), sql.error()));
    if (auto st = conn.exec(sql->c_str()); !st.ok()) {
      return rollback(fail(fmt::format("migration to schema version {} failed", v + 1), st.error()));
    }
  }
  if (current < target) {
    const auto set = fmt::format("PRAGMA user_version = {}", target);
    if (auto st = conn.exec(set.c_str()); !st.ok())
      return rollback(fail("cannot set schema version", st.error()));
  }
  if (auto st = conn.exec("COMMIT"); !st.ok()) return rollback(fail("cannot commit migration", st.error()));
  return {};
}

}  // namespace hookwire::store
