#pragma once

// Pure helpers of the static file server: request-target to safe relative path, content
// types, HTTP dates, conditional requests and byte ranges. No I/O, no shared state
// (thread-safe).

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>

namespace gravity::static_server {

struct TargetPath {
  int error_status = 0;  // nonzero: answer with this status (400)
  const char* error_reason = "";
  // The decoded, normalized path relative to the served directory: no leading '/', no
  // "." or ".." segments, no empty segments, no NUL. "" is the directory itself.
  std::string relative;
  bool trailing_slash = false;  // the request path ended with '/' (or was "/")
  std::string_view raw_path;    // the undecoded path as sent (without query)
  std::string_view query;       // after '?', without it ("" when absent)
};

// Parses an origin-form ("/a/b?q") or absolute-form ("http://host/a/b") request target.
// Percent-escapes are decoded; an escape that is malformed or encodes NUL or '/' is
// refused with 400. ".." segments are resolved; one that would climb above the served
// directory is refused with 400.
TargetPath ParseTarget(std::string_view target);

// Content-Type for a file name by its extension ("text/html; charset=utf-8"); unknown
// extensions give "application/octet-stream".
std::string_view ContentTypeFor(std::string_view file_name);

// IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT".
std::string FormatHttpDate(std::time_t t);
// Accepts IMF-fixdate (the only form Gravity sends); nullopt when malformed.
std::optional<std::time_t> ParseHttpDate(std::string_view s);

// True when an If-None-Match value ("*", or a list of entity tags, weak or strong)
// matches `etag` by weak comparison (RFC 9110 13.1.2).
bool IfNoneMatchMatches(std::string_view if_none_match, std::string_view etag);

struct ByteRange {
  enum class Kind {
    kNone,           // no usable Range: answer 200 with the whole file
    kSatisfiable,    // answer 206 with [first, last]
    kUnsatisfiable,  // answer 416
  };
  Kind kind = Kind::kNone;
  std::uint64_t first = 0;
  std::uint64_t last = 0;  // inclusive
};

// Evaluates a Range header value against a representation of `size` bytes. Only a single
// "bytes" range is honoured; several ranges, other units and malformed values are
// ignored (kNone: the whole file is sent, as RFC 9110 14.2 allows).
ByteRange ParseRange(std::string_view value, std::uint64_t size);

}  // namespace gravity::static_server
