// Object ids in Svix's shape: a type prefix, an underscore and a 27-character KSUID-style base62 string
// ("msg_2Ls7YsVdqXkx0M3Ez4lb3AbCdEf"). The first 4 bytes are seconds since the KSUID epoch, so ids sort by
// creation time; within one process they are strictly increasing (a later id always compares greater as a
// string), which is what cursor pagination relies on. Thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "core/clock.h"

namespace hookwire {

namespace id_prefix {
inline constexpr std::string_view kApplication = "app";
inline constexpr std::string_view kEndpoint = "ep";
inline constexpr std::string_view kMessage = "msg";
inline constexpr std::string_view kAttempt = "atmpt";
inline constexpr std::string_view kEventType = "evtype";
inline constexpr std::string_view kSource = "src";
inline constexpr std::string_view kSourceRequest = "sreq";  // a request an inbound source was sent
}  // namespace id_prefix

std::string new_id(std::string_view prefix, TimePoint now);
std::string new_id(std::string_view prefix);

// True if `s` has the form prefix_ + 27 base62 characters.
bool is_id(std::string_view s, std::string_view prefix);

// The id that follows `id` (an id of any prefix) in order: the same prefix and the next 27-character value.
// For a sequence that must stay above ids already given (store::SqliteStore's message ids after a reopen).
std::string id_after(std::string_view id);

// The smallest id that could have been generated at `t` (for time-bounded cursor queries).
std::string min_id_at(std::string_view prefix, TimePoint t);

}  // namespace hookwire
