// The SQLite schema as an ordered list of migrations, applied at open.
//
// The database's version is `PRAGMA user_version` (0 = empty). open applies every step above it, all in one
// transaction (so a failed upgrade leaves the file as it was), and refuses a file whose version is newer than
// the newest step this build knows: an older hookwire must not write into a newer schema.
// Rule for new steps: append, never edit a released step.
#pragma once

#include "core/result.h"
#include "store/sqlite/connection.h"

namespace hookwire::store {

// The schema version this build creates.
int latest_schema_version();

// Refuses a file that exists but is not a hookwire database (empty without a WAL, not SQLite, a damaged
// header or schema, another program's tables), naming the file, the reason and what to do; reads only.
Status check_database_file(const std::string& path);

// Puts the database in WAL mode and migrates it to latest_schema_version() (tests of a migration: to
// `target`, at most the latest). `path` names the file in errors.
Status migrate(Connection& conn, const std::string& path, int target = -1);

}  // namespace hookwire::store
