#include "static/http_util.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <vector>

namespace gravity::static_server {

namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool StartsWithIgnoreCase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
  }
  return true;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Strips a weak prefix for weak comparison.
std::string_view Opaque(std::string_view tag) {
  tag = Trim(tag);
  if (tag.size() >= 2 && tag[0] == 'W' && tag[1] == '/') tag.remove_prefix(2);
  return tag;
}

struct Mime {
  const char* ext;
  const char* type;
};

// Sorted by extension for binary search.
constexpr Mime kMimeTypes[] = {
    {"avif", "image/avif"},
    {"bmp", "image/bmp"},
    {"css", "text/css; charset=utf-8"},
    {"csv", "text/csv; charset=utf-8"},
    {"gif", "image/gif"},
    {"gz", "application/gzip"},
    {"htm", "text/html; charset=utf-8"},
    {"html", "text/html; charset=utf-8"},
    {"ico", "image/x-icon"},
    {"jpeg", "image/jpeg"},
    {"jpg", "image/jpeg"},
    {"js", "text/javascript; charset=utf-8"},
    {"json", "application/json"},
    {"map", "application/json"},
    {"md", "text/markdown; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"mp3", "audio/mpeg"},
    {"mp4", "video/mp4"},
    {"oga", "audio/ogg"},
    {"ogg", "audio/ogg"},
    {"ogv", "video/ogg"},
    {"otf", "font/otf"},
    {"pdf", "application/pdf"},
    {"png", "image/png"},
    {"svg", "image/svg+xml"},
    {"tar", "application/x-tar"},
    {"ttf", "font/ttf"},
    {"txt", "text/plain; charset=utf-8"},
    {"wasm", "application/wasm"},
    {"wav", "audio/wav"},
    {"webm", "video/webm"},
    {"webmanifest", "application/manifest+json"},
    {"webp", "image/webp"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"xml", "application/xml"},
    {"zip", "application/zip"},
};

constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

bool ParseUint(std::string_view s, std::uint64_t& out) {
  if (s.empty() || s.size() > 19) return false;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  out = v;
  return true;
}

}  // namespace

TargetPath ParseTarget(std::string_view target) {
  TargetPath out;
  auto fail = [&](const char* why) {
    out.error_status = 400;
    out.error_reason = why;
    return out;
  };
  if (StartsWithIgnoreCase(target, "http://") || StartsWithIgnoreCase(target, "https://")) {
    size_t scheme_end = target.find("://") + 3;
    size_t slash = target.find('/', scheme_end);
    target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
  }
  if (target.empty() || target[0] != '/') return fail("request target must start with '/'");
  size_t q = target.find('?');
  if (q != std::string_view::npos) {
    out.query = target.substr(q + 1);
    target = target.substr(0, q);
  }
  size_t hash = target.find('#');
  if (hash != std::string_view::npos) target = target.substr(0, hash);
  out.raw_path = target;

  // Decode, then split into segments.
  std::string decoded;
  decoded.reserve(target.size());
  for (size_t i = 0; i < target.size(); ++i) {
    char c = target[i];
    if (c == '%') {
      if (i + 2 >= target.size()) return fail("malformed percent-escape in path");
      int hi = HexValue(target[i + 1]), lo = HexValue(target[i + 2]);
      if (hi < 0 || lo < 0) return fail("malformed percent-escape in path");
      char d = static_cast<char>(hi * 16 + lo);
      if (d == '\0') return fail("path contains an encoded NUL");
      if (d == '/') return fail("path contains an encoded '/'");
      decoded.push_back(d);
      i += 2;
    } else if (c == '\0') {
      return fail("path contains NUL");
    } else {
      decoded.push_back(c);
    }
  }
  out.trailing_slash = !decoded.empty() && decoded.back() == '/';

  std::vector<std::string_view> segments;
  std::string_view rest = decoded;
  while (!rest.empty()) {
    size_t slash = rest.find('/');
    std::string_view seg = rest.substr(0, slash);
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
    if (seg.empty() || seg == ".") continue;
    if (seg == "..") {
      if (segments.empty()) return fail("path climbs above the served directory");
      segments.pop_back();
      continue;
    }
    segments.push_back(seg);
  }
  for (size_t i = 0; i < segments.size(); ++i) {
    if (i) out.relative.push_back('/');
    out.relative.append(segments[i]);
  }
  if (out.relative.empty()) out.trailing_slash = true;
  return out;
}

std::string_view ContentTypeFor(std::string_view file_name) {
  size_t slash = file_name.rfind('/');
  if (slash != std::string_view::npos) file_name.remove_prefix(slash + 1);
  size_t dot = file_name.rfind('.');
  if (dot == std::string_view::npos || dot + 1 >= file_name.size()) {
    return "application/octet-stream";
  }
  std::string_view ext_raw = file_name.substr(dot + 1);
  if (ext_raw.size() > 16) return "application/octet-stream";
  char buf[16];
  for (size_t i = 0; i < ext_raw.size(); ++i) {
    buf[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(ext_raw[i])));
  }
  std::string_view ext(buf, ext_raw.size());
  auto it = std::lower_bound(std::begin(kMimeTypes), std::end(kMimeTypes), ext,
                             [](const Mime& m, std::string_view e) { return m.ext < e; });
  if (it != std::end(kMimeTypes) && it->ext == ext) return it->type;
  return "application/octet-stream";
}

std::string FormatHttpDate(std::time_t t) {
  struct tm tm;
  gmtime_r(&t, &tm);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[tm.tm_wday],
                tm.tm_mday, kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                tm.tm_sec);
  return buf;
}

std::optional<std::time_t> ParseHttpDate(std::string_view s) {
  // "Sun, 06 Nov 1994 08:49:37 GMT"
  s = Trim(s);
  if (s.size() != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' ||
      s[19] != ':' || s[22] != ':' || s.substr(25) != " GMT") {
    return std::nullopt;
  }
  auto num = [&](size_t pos, size_t len, int& out) {
    std::uint64_t v;
    if (!ParseUint(s.substr(pos, len), v)) return false;
    out = static_cast<int>(v);
    return true;
  };
  struct tm tm {};
  int mon = -1;
  for (int i = 0; i < 12; ++i) {
    if (s.substr(8, 3) == kMonths[i]) mon = i;
  }
  int year;
  if (mon < 0 || !num(5, 2, tm.tm_mday) || !num(12, 4, year) || !num(17, 2, tm.tm_hour) ||
      !num(20, 2, tm.tm_min) || !num(23, 2, tm.tm_sec)) {
    return std::nullopt;
  }
  if (tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60) {
    return std::nullopt;
  }
  tm.tm_mon = mon;
  tm.tm_year = year - 1900;
  return timegm(&tm);
}

bool IfNoneMatchMatches(std::string_view value, std::string_view etag) {
  value = Trim(value);
  if (value == "*") return true;
  std::string_view want = Opaque(etag);
  while (!value.empty()) {
    // Entity tags may contain commas only inside quotes; split on commas outside quotes.
    size_t i = 0;
    bool quoted = false;
    while (i < value.size() && (quoted || value[i] != ',')) {
      if (value[i] == '"') quoted = !quoted;
      ++i;
    }
    if (Opaque(value.substr(0, i)) == want) return true;
    value = i < value.size() ? value.substr(i + 1) : std::string_view();
  }
  return false;
}

ByteRange ParseRange(std::string_view value, std::uint64_t size) {
  ByteRange r;
  value = Trim(value);
  if (!StartsWithIgnoreCase(value, "bytes=")) return r;
  std::string_view spec = Trim(value.substr(6));
  if (spec.find(',') != std::string_view::npos) return r;  // several ranges: send it all
  size_t dash = spec.find('-');
  if (dash == std::string_view::npos) return r;
  std::string_view a = Trim(spec.substr(0, dash)), b = Trim(spec.substr(dash + 1));
  if (a.empty()) {
    // Suffix range: the last N bytes.
    std::uint64_t n;
    if (!ParseUint(b, n)) return r;
    if (n == 0 || size == 0) {
      r.kind = ByteRange::Kind::kUnsatisfiable;
      return r;
    }
    r.kind = ByteRange::Kind::kSatisfiable;
    r.first = n >= size ? 0 : size - n;
    r.last = size - 1;
    return r;
  }
  std::uint64_t first, last;
  if (!ParseUint(a, first)) return r;
  if (b.empty()) {
    last = size ? size - 1 : 0;
  } else {
    if (!ParseUint(b, last) || last < first) return r;  // invalid: ignored
    if (last >= size) last = size ? size - 1 : 0;
  }
  if (first >= size) {
    r.kind = ByteRange::Kind::kUnsatisfiable;
    return r;
  }
  r.kind = ByteRange::Kind::kSatisfiable;
  r.first = first;
  r.last = last;
  return r;
}

}  // namespace gravity::static_server
