// Process-wide logging set-up: human-readable text or JSON lines (one object per line: time, level, msg), on
// stderr. Call once at start-up.
#pragma once

#include <string>

#include "core/result.h"

namespace hookwire::app {

enum class LogFormat { kText, kJson };

// level: trace, debug, info, warn, error, off.
Status setup_logging(LogFormat format, const std::string& level);

}  // namespace hookwire::app
