#pragma once

// One line of the log store, and the names of its sources and streams.

#include <cstdint>
#include <string>
#include <string_view>

namespace gravity::logs {

// Where a line came from.
inline constexpr std::string_view kSourceApp = "app";        // an instance's stdout/stderr
inline constexpr std::string_view kSourceProxy = "proxy";    // the proxy's access log
inline constexpr std::string_view kSourceBuild = "build";    // a pipeline build command
inline constexpr std::string_view kSourceTest = "test";      // a pipeline test command
inline constexpr std::string_view kSourceDeploy = "deploy";  // deploy and rollback events
bool IsSource(std::string_view s);

// Longest text kept for one line; longer ones end with kCutMarker.
inline constexpr std::size_t kMaxText = 64 * 1024;
inline constexpr std::string_view kCutMarker = " [gravity: line cut]";

struct Entry {
  std::int64_t id = 0;       // assigned by the store; increases with ingest order
  std::int64_t time_ns = 0;  // Unix time in nanoseconds
  std::string app;
  std::string env;
  std::string release;   // the commit (instances, builds, tests) or empty
  std::string instance;  // instance id; for proxy lines the target address
  std::string source;    // kSource*
  std::string stream;    // stdout | stderr | gravity (the wrapper's own notes)
  std::string text;      // valid UTF-8 (see CleanText), raw JSON for JSON lines
  // Proxy lines (and app lines carrying an id, which the store finds through the text).
  std::string request_id;
  std::string method;
  std::string path;
  int status = 0;
  std::int64_t duration_us = 0;
};

// Makes `raw` storable: invalid UTF-8 and NUL bytes become U+FFFD, text past kMaxText is
// cut at a character boundary and ends with kCutMarker. Escape sequences are kept (the CLI
// shows them escaped).
std::string CleanText(std::string_view raw);

// Parses an RFC 3339 time ("2026-01-31T12:00:00Z", fractions, "+02:00" offsets) into Unix
// nanoseconds; false when `text` is not one.
bool ParseRfc3339(std::string_view text, std::int64_t* ns);
// "2026-01-31T12:00:00.123Z" (milliseconds, UTC).
std::string FormatRfc3339Ms(std::int64_t ns);

}  // namespace gravity::logs
