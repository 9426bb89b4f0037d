// The PostgreSQL store's schema: the steps migrate() (schema.h) applies, in order. The tables mirror the
// SQLite schema at version 16 (sqlite/schema.cc) in PostgreSQL types; what differs is said at each step.
// Rule: append steps, never edit one that was released.
#pragma once

#include <span>
#include <string_view>

namespace hookwire::store::postgres {

std::span<const std::string_view> store_schema();

}  // namespace hookwire::store::postgres
