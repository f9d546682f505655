#include "common/resource_limits.h"

#include <cctype>
#include <charconv>

namespace gravity {

namespace {

// "'TEXT'" + rest, appended (not `"'" + std::string(...)`: GCC 12 at -O3 warns -Wrestrict
// on that shape).
std::string Quoted(std::string_view text, std::string_view rest) {
  std::string out;
  out.reserve(text.size() + rest.size() + 2);
  out += '\'';
  out.append(text);
  out += '\'';
  out.append(rest);
  return out;
}

}  // namespace

Result<std::int64_t> ParseByteSize(std::string_view text) {
  std::string_view t = text;
  while (!t.empty() && std::isspace(static_cast<unsigned char>(t.back()))) t.remove_suffix(1);
  std::int64_t n = 0;
  auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), n);
  if (ec != std::errc() || end == t.data() || n < 0) {
    return Status::Error(Quoted(text, " is not a size (e.g. 512MiB, 2GiB)"));
  }
  std::string unit(end, t.data() + t.size());
  while (!unit.empty() && unit.front() == ' ') unit.erase(0, 1);
  for (auto& c : unit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  int shift = -1;
  if (unit.empty() || unit == "b") shift = 0;
  if (unit == "k" || unit == "kib" || unit == "kb") shift = 10;
  if (unit == "m" || unit == "mib" || unit == "mb") shift = 20;
  if (unit == "g" || unit == "gib" || unit == "gb") shift = 30;
  if (unit == "t" || unit == "tib" || unit == "tb") shift = 40;
  if (shift < 0) {
    std::string rest = ": unknown unit '";
    rest += unit;
    rest += "' (use KiB, MiB, GiB or TiB)";
    return Status::Error(Quoted(text, rest));
  }
  if (shift > 0 && n > (INT64_MAX >> shift)) {
    return Status::Error(Quoted(text, " is too large"));
  }
  return n << shift;
}

std::string FormatByteSize(std::int64_t bytes) {
  static const char* kUnits[] = {"TiB", "GiB", "MiB", "KiB"};
  static const int kShifts[] = {40, 30, 20, 10};
  for (int k = 0; k < 4; ++k) {
    std::int64_t unit = std::int64_t{1} << kShifts[k];
    if (bytes >= unit && bytes % unit == 0) return std::to_string(bytes / unit) + " " + kUnits[k];
  }
  return std::to_string(bytes) + " bytes";
}

}  // namespace gravity
