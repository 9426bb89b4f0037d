#include "store/postgres/schema.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace hookwire::store::postgres {

namespace {

// Releases the session advisory lock on every path out of migrate().
class LockHeld {
 public:
  explicit LockHeld(PgConnection& conn) : conn_(conn) {}
  ~LockHeld() {
    if (conn_.ok()) (void)conn_.exec(fmt::format("SELECT pg_advisory_unlock({})", kMigrationLock));
  }

 private:
  PgConnection& conn_;
};

}  // namespace

Result<int> schema_version(PgConnection& conn) {
  auto exists = conn.exec("SELECT to_regclass('hookwire_schema') IS NOT NULL");
  if (!exists) return exists.take_error();
  if (exists->text(0, 0) != "t") return 0;
  auto row = conn.exec("SELECT version FROM hookwire_schema");
  if (!row) return row.take_error();
  if (row->rows() != 1) return Error::internal("hookwire_schema must hold exactly one row");
  return std::stoi(std::string(row->text(0, 0)));
}

Status migrate(PgConnection& conn, std::span<const std::string_view> steps, int target) {
  const int last = static_cast<int>(steps.size());
  if (target < 0 || target > last) target = last;
  if (auto locked = conn.exec(fmt::format("SELECT pg_advisory_lock({})", kMigrationLock)); !locked)
    return Error::unavailable("postgres: waiting for another node's migration: " + locked.error().detail);
  LockHeld held(conn);
  if (auto made = conn.exec("CREATE TABLE IF NOT EXISTS hookwire_schema (version INT NOT NULL)"); !made)
    return made.take_error();
  if (auto seeded = conn.exec(
          "INSERT INTO hookwire_schema (version) SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM hookwire_schema)");
      !seeded)
    return seeded.take_error();
  auto version = schema_version(conn);
  if (!version) return version.take_error();
  if (*version > last)
    return Error::internal(fmt::format(
        "the database's schema is version {}, newer than this hookwire knows ({}): run a newer hookwire",
        *version, last));
  for (int v = *version + 1; v <= target; ++v) {
    auto step = [&]() -> Status {
      if (auto r = conn.exec("BEGIN"); !r) return r.take_error();
      if (auto r = conn.exec_script(steps[static_cast<size_t>(v - 1)]); !r) return r.take_error();
      if (auto r = conn.exec("UPDATE hookwire_schema SET version = $1", {std::to_string(v)}); !r)
        return r.take_error();
      if (auto r = conn.exec("COMMIT"); !r) return r.take_error();
      return {};
    }();
    if (!step) {
      if (conn.ok()) (void)conn.exec("ROLLBACK");
      if (step.error().code == Errc::kUnavailable) return step;
      return Error::internal(fmt::format("postgres: schema step {} failed: {}", v, step.error().detail));
    }
    spdlog::info("postgres: schema migrated to version {}", v);
  }
  return {};
}

}  // namespace hookwire::store::postgres
