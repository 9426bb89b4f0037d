// Feed cursors: the opaque `iterator` a reader hands back to continue after a position of the feed (Svix's
// poller iterator, an SSE event's `id:`). Stable across restarts (a position never changes); a client must
// not read anything into its text.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace hookwire::feed {

std::string encode_cursor(int64_t position);
// The position, or nullopt for anything encode_cursor() did not produce.
std::optional<int64_t> decode_cursor(std::string_view cursor);

}  // namespace hookwire::feed
