#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "common/status.h"

namespace gravity {

// Parses "500ms", "2s", "10m", "1h" (and combinations such as "1m30s"). Rejects
// negative, empty, unit-less and overflowing values with a message naming the input.
Result<std::chrono::milliseconds> ParseDuration(std::string_view text);

// Formats as the shortest exact form: 1500ms -> "1.5s", 120000ms -> "2m", 250ms -> "250ms".
std::string FormatDuration(std::chrono::milliseconds d);

}  // namespace gravity
