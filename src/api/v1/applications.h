// Application input shared by the application routes and message creation (MessageIn.application).
#pragma once

#include <boost/json.hpp>
#include <optional>
#include <string>

#include "core/result.h"
#include "store/model.h"

namespace hookwire::api::v1 {

struct ApplicationFields {
  std::optional<std::string> name;
  std::optional<std::string> uid;
  std::optional<int64_t> throttle_rate;
  std::optional<std::string> metadata;
  bool clear_uid = false, clear_throttle = false;  // PATCH with null
};

// Reads ApplicationIn (name required) or, with `patch`, ApplicationPatch (all optional, null clears).
// Validation errors name fields under `prefix` ("body", "body.application").
Result<ApplicationFields> read_application(const boost::json::object& obj, bool patch,
                                           std::string prefix = "body");

// A new application record (fresh id) from validated ApplicationIn fields.
store::Application new_application(const ApplicationFields& f, TimePoint now);

}  // namespace hookwire::api::v1
