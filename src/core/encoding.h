// Byte encodings and randomness shared by every module: base64 (standard alphabet, padded), hex, CSPRNG
// bytes, constant-time comparison. Pure functions, thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace hookwire {

std::string base64_encode(std::string_view bytes);
// Strict standard-alphabet base64; padding optional; whitespace refused. nullopt when malformed.
std::optional<std::string> base64_decode(std::string_view text);
std::string hex_encode(std::string_view bytes);                // lowercase
std::optional<std::string> hex_decode(std::string_view text);  // either case

// Cryptographically secure random bytes (OpenSSL RAND_bytes). Aborts if the RNG fails: nothing is safe then.
std::string random_bytes(size_t n);

// Equal length and content, in time that depends only on the lengths.
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace hookwire
