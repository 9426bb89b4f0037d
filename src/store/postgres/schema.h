// The PostgreSQL schema's migration runner: an ordered list of steps (step i brings the database to version
// i + 1), applied at start by every node.
//
// The version is the one row of `hookwire_schema`. Steps above it are applied in order, each in its own
// transaction with the version update (DDL is transactional in PostgreSQL: a failed step leaves the database
// at the previous version). Everything happens under a session advisory lock, so nodes that start together
// apply each step once and wait for each other (at most the connection's statement timeout). A database whose
// version is newer than the last step this build knows is refused: an older hookwire must not write into a
// newer schema. Rule for new steps: append, never edit a released one.
#pragma once

#include <span>
#include <string_view>

#include "core/result.h"
#include "store/postgres/connection.h"

namespace hookwire::store::postgres {

// The advisory lock key the runner holds (other whole-database jobs must use their own keys).
inline constexpr int64_t kMigrationLock = 0x686f6f6b'7769'7265;  // "hookwire"

// Brings the database to `target` (-1: the last step). kUnavailable when the server cannot be reached or the
// lock was not had in time; kInternal naming the version for a step that fails or a database that is newer.
Status migrate(PgConnection& conn, std::span<const std::string_view> steps, int target = -1);

// The database's schema version (0 when hookwire never migrated it).
Result<int> schema_version(PgConnection& conn);

}  // namespace hookwire::store::postgres
