#pragma once

#include <spdlog/spdlog.h>

#include <string>

namespace gravity {

// Sets up the process-wide logger: `level` is trace|debug|info|warn|error; `file` empty
// means stderr. Log lines carry an ISO time and the level.
void SetupLogging(const std::string& level, const std::string& file = "");

}  // namespace gravity
