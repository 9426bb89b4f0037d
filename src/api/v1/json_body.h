// Reading request bodies: JSON parsing and field validation that names the offending field.
//
// FieldReader reads the members of one JSON object; each getter checks type and rules and, on the first
// problem, remembers a validation Error ("body.url: ...") that error() returns. Reading on after an error is
// harmless, so a handler reads every field and checks error() once.
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/names.h"
#include "core/result.h"

namespace hookwire::api::v1 {

namespace json = boost::json;

// Parses a request body that must be one JSON object. kBadRequest for syntax errors, kValidation if it is
// valid JSON of another type. `sp`: where the object's memory comes from (e.g. a monotonic_resource on the
// stack, for a hot path whose object does not outlive the call).
Result<json::object> parse_object(std::string_view body, json::storage_ptr sp = {});

// The exact source text of a top-level member's value in a JSON object text (whitespace trimmed), or nullopt.
// Lets hookwire keep a message payload byte-for-byte as sent (numbers, key order) instead of re-serializing.
// `text` must already be known to be a valid JSON object.
std::optional<std::string_view> raw_member(std::string_view text, std::string_view name);

// Svix's identifier rule for uids, event type names, eventIds: ^[a-zA-Z0-9\-_.]+$, at most 256 characters.
// Its one home is core/names.h (the inbound gateway checks event types with it too).
using ::hookwire::is_token;

class FieldReader {
 public:
  explicit FieldReader(const json::object& obj, std::string prefix = "body")
      : obj_(obj), prefix_(std::move(prefix)) {}

  bool has(std::string_view name) const { return obj_.contains(name); }
  bool is_null(std::string_view name) const;  // present and null

  enum class Rule { kAny, kToken, kNonEmpty };
  // Absent or null -> nullopt. `max_len` in bytes.
  std::optional<std::string> opt_string(std::string_view name, Rule rule = Rule::kAny,
                                        size_t max_len = 65536);
  std::string req_string(std::string_view name, Rule rule = Rule::kAny, size_t max_len = 65536);
  std::optional<bool> opt_bool(std::string_view name);
  std::optional<int64_t> opt_int(std::string_view name, int64_t min, int64_t max);
  // A JSON object, returned serialized. `string_values`: every member must be a string (Svix metadata).
  std::optional<std::string> opt_object_text(std::string_view name, bool string_values = false);
  std::optional<std::vector<std::string>> opt_string_array(std::string_view name, Rule rule,
                                                           size_t max_items);
  // An object of string values, returned as pairs.
  std::optional<std::vector<std::pair<std::string, std::string>>> opt_string_map(std::string_view name);

  // Records a problem with a field (for checks the getters cannot make).
  void fail(std::string_view name, std::string detail);
  const std::optional<Error>& error() const { return error_; }

 private:
  const json::value* find(std::string_view name) const;
  std::string field(std::string_view name) const { return prefix_ + "." + std::string(name); }

  const json::object& obj_;
  std::string prefix_;
  std::optional<Error> error_;
};

// A body's "since" (required) and "until" (required when `until_required`) ISO 8601 date-times, as read by
// `r` (recover, the replays, the usage statistics).
struct TimeRange {
  TimePoint since;
  std::optional<TimePoint> until;
};
Result<TimeRange> read_range(FieldReader& r, bool until_required = false);

}  // namespace hookwire::api::v1
