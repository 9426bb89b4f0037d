// Making text well-formed UTF-8 (whether it is: is_utf8 in names.h): for what hookwire keeps of bytes others
// sent (a receiver's response, an inbound request) as text, which PostgreSQL and JSON require.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace hookwire {

// The length of the well-formed UTF-8 sequence (RFC 3629) that `s` starts with, or 0 (none, or `s` empty).
size_t utf8_sequence_length(std::string_view s);
// `text` as well-formed UTF-8: each byte that does not start a well-formed sequence (RFC 3629) becomes
// U+FFFD; with `replace_nul`, each NUL too (PostgreSQL's text cannot hold one). Text that is already so is
// returned as is.
std::string to_valid_utf8(std::string_view text, bool replace_nul = false);

}  // namespace hookwire
