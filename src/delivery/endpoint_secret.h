// An endpoint secret given by a client (the endpoint API, a source's destination in the config file), checked
// and normalized for storage. One home for the rule, so every way in accepts the same keys.
#pragma once

#include <string>
#include <string_view>

#include "core/result.h"

namespace hookwire::delivery {

// Svix's rule, ^(whsec_)?[a-zA-Z0-9+/=]{32,100}$ decoding as base64 of 24 to 64 bytes (signed v1), stored
// with its whsec_ prefix; or a whsk_ Ed25519 secret key (signed v1a): base64 of the 32-byte seed then its
// 32-byte public key, stored as given. kValidation on `field` otherwise.
Result<std::string> normalize_endpoint_secret(std::string_view secret, std::string_view field);

}  // namespace hookwire::delivery
