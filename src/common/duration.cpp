#include "common/duration.h"

#include <cctype>
#include <cstdint>
#include <limits>

namespace gravity {

namespace {

// Why no unit follows a number; `rest` is what follows it instead.
std::string UnitMissingReason(std::string_view rest) {
  if (rest.empty()) return "missing unit";
  if (rest[0] == '.') return "fractions are not supported; use a smaller unit, e.g. 1500ms";
  if (rest[0] == ' ') return "unexpected space";
  return "missing unit before '" + std::string(1, rest[0]) + "'";
}

}  // namespace

Result<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return Status::Error("invalid duration '" + std::string(text) + "': " + why +
                         " (write e.g. 500ms, 2s, 10m, 1h)");
  };
  if (text.empty()) return bad("empty");
  std::int64_t total_ms = 0;
  size_t i = 0;
  while (i < text.size()) {
    size_t start = i;
    std::int64_t number = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      if (number > std::numeric_limits<std::int64_t>::max() / 10 - 10) return bad("too large");
      number = number * 10 + (text[i] - '0');
      ++i;
    }
    if (i == start) {
      if (text[i] == '-') return bad("must not be negative");
      return bad("expected a number");
    }
    size_t unit_start = i;
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) ++i;
    std::string_view unit = text.substr(unit_start, i - unit_start);
    std::int64_t factor;
    if (unit == "ms") {
      factor = 1;
    } else if (unit == "s") {
      factor = 1000;
    } else if (unit == "m") {
      factor = 60 * 1000;
    } else if (unit == "h") {
      factor = 60 * 60 * 1000;
    } else if (unit == "d") {
      factor = 24 * 60 * 60 * 1000;
    } else if (unit.empty()) {
      return bad(UnitMissingReason(text.substr(i)));
    } else {
      return bad("unknown unit '" + std::string(unit) + "'");
    }
    if (number > (std::numeric_limits<std::int64_t>::max() / 4) / factor) return bad("too large");
    total_ms += number * factor;
    if (total_ms > std::numeric_limits<std::int64_t>::max() / 4) return bad("too large");
  }
  return std::chrono::milliseconds(total_ms);
}

std::string FormatDuration(std::chrono::milliseconds d) {
  std::int64_t ms = d.count();
  if (ms == 0) return "0s";
  if (ms % (3600 * 1000) == 0) return std::to_string(ms / (3600 * 1000)) + "h";
  if (ms % (60 * 1000) == 0) return std::to_string(ms / (60 * 1000)) + "m";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  if (ms < 1000) return std::to_string(ms) + "ms";
  std::string whole = std::to_string(ms / 1000);
  std::string frac = std::to_string(1000 + ms % 1000).substr(1);
  while (!frac.empty() && frac.back() == '0') frac.pop_back();
  return whole + "." + frac + "s";
}

}  // namespace gravity
