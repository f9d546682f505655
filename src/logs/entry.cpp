#include "logs/entry.h"

#include <cstdio>
#include <ctime>

namespace gravity::logs {

bool IsSource(std::string_view s) {
  return s == kSourceApp || s == kSourceProxy || s == kSourceBuild || s == kSourceTest ||
         s == kSourceDeploy;
}

namespace {

// Length of the valid UTF-8 sequence at s[i], 0 when it is not one.
std::size_t Utf8Length(std::string_view s, std::size_t i) {
  auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = b(i);
  if (c < 0x80) return c == 0 ? 0 : 1;
  std::size_t n = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c <= 0xdf ? 2 : 0;
  if (n == 0 || (c >= 0xf0 && n != 4) || i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xc0) != 0x80) return 0;
  }
  if (n == 3) {
    unsigned char c1 = b(i + 1);
    if ((c == 0xe0 && c1 < 0xa0) || (c == 0xed && c1 >= 0xa0)) return 0;  // overlong, surrogate
  }
  if (n == 4) {
    unsigned char c1 = b(i + 1);
    if ((c == 0xf0 && c1 < 0x90) || (c == 0xf4 && c1 >= 0x90)) return 0;
  }
  return n;
}

constexpr std::string_view kReplacement = "\xef\xbf\xbd";

}  // namespace

std::string CleanText(std::string_view raw) {
  std::string out;
  out.reserve(raw.size() < kMaxText ? raw.size() : kMaxText + kCutMarker.size());
  std::size_t i = 0;
  while (i < raw.size()) {
    // The fast path: a run of printable ASCII.
    std::size_t j = i;
    while (j < raw.size() && static_cast<unsigned char>(raw[j]) < 0x80 && raw[j] != 0) ++j;
    if (j > i) {
      std::size_t room = kMaxText - out.size();
      if (j - i > room) {
        out.append(raw.substr(i, room));
        out.append(kCutMarker);
        return out;
      }
      out.append(raw.substr(i, j - i));
      i = j;
      continue;
    }
    std::size_t n = Utf8Length(raw, i);
    std::string_view piece = n ? raw.substr(i, n) : kReplacement;
    if (out.size() + piece.size() > kMaxText) {
      out.append(kCutMarker);
      return out;
    }
    out.append(piece);
    i += n ? n : 1;
  }
  return out;
}

bool ParseRfc3339(std::string_view t, std::int64_t* ns) {
  auto digits = [&](std::size_t at, std::size_t n, int* v) {
    if (at + n > t.size()) return false;
    int x = 0;
    for (std::size_t k = at; k < at + n; ++k) {
      if (t[k] < '0' || t[k] > '9') return false;
      x = x * 10 + (t[k] - '0');
    }
    *v = x;
    return true;
  };
  std::tm tm{};
  int year, mon, day, hour, min, sec;
  if (!digits(0, 4, &year) || t.size() < 20 || t[4] != '-' || !digits(5, 2, &mon) ||
      t[7] != '-' || !digits(8, 2, &day) || (t[10] != 'T' && t[10] != 't' && t[10] != ' ') ||
      !digits(11, 2, &hour) || t[13] != ':' || !digits(14, 2, &min) || t[16] != ':' ||
      !digits(17, 2, &sec)) {
    return false;
  }
  if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60) {
    return false;
  }
  std::size_t i = 19;
  std::int64_t frac = 0;
  if (i < t.size() && t[i] == '.') {
    ++i;
    std::size_t start = i;
    std::int64_t scale = 100000000;
    while (i < t.size() && t[i] >= '0' && t[i] <= '9') {
      frac += (t[i] - '0') * scale;
      scale /= 10;
      ++i;
    }
    if (i == start) return false;
  }
  std::int64_t offset_s = 0;
  if (i < t.size() && (t[i] == 'Z' || t[i] == 'z')) {
    ++i;
  } else if (i < t.size() && (t[i] == '+' || t[i] == '-')) {
    int oh, om;
    if (!digits(i + 1, 2, &oh) || i + 3 >= t.size() || t[i + 3] != ':' ||
        !digits(i + 4, 2, &om) || oh > 23 || om > 59) {
      return false;
    }
    offset_s = (oh * 3600 + om * 60) * (t[i] == '+' ? 1 : -1);
    i += 6;
  } else {
    return false;
  }
  if (i != t.size()) return false;
  tm.tm_year = year - 1900;
  tm.tm_mon = mon - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = min;
  tm.tm_sec = sec;
  std::int64_t secs = static_cast<std::int64_t>(::timegm(&tm)) - offset_s;
  *ns = secs * 1000000000 + frac;
  return true;
}

std::string FormatRfc3339Ms(std::int64_t ns) {
  std::int64_t ms = ns / 1000000;
  if (ns < 0 && ns % 1000000) --ms;
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  int rem = static_cast<int>(ms % 1000);
  if (rem < 0) {
    rem += 1000;
    --secs;
  }
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, rem);
  return buf;
}

}  // namespace gravity::logs
