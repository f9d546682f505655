#pragma once

// The access log: one JSON object per line per request, buffered per worker and appended
// to one file descriptor in whole lines (O_APPEND keeps lines of different workers apart).
// Thread-safety: an AccessLog belongs to one worker thread.

#include <cstdint>
#include <string>
#include <string_view>

namespace gravity::proxy {

struct AccessRecord {
  std::int64_t wall_ms = 0;  // Unix time in milliseconds
  std::string_view request_id;
  std::string_view method;
  std::string_view host;
  std::string_view path;
  int status = 0;
  std::uint64_t bytes = 0;   // response body bytes sent
  std::uint64_t micros = 0;  // from the request head to the end of the response
  std::string_view service;
  std::string_view pool;
  std::string_view target;
  std::string_view protocol = "http/1.1";  // the client's side: "http/1.1" or "h2"
};

// Appends `s` as a JSON string (quotes, escapes; bytes outside printable ASCII as \u00XX).
void AppendJsonString(std::string* out, std::string_view s);
// Appends one line: {"time":"2026-...Z","request_id":...,"target":...}\n
void AppendAccessLine(const AccessRecord& r, std::string* out);

class AccessLog {
 public:
  explicit AccessLog(int fd) : fd_(fd) {}  // fd < 0: off
  bool enabled() const { return fd_ >= 0; }
  void Append(const AccessRecord& r);  // flushes once 64 KiB are buffered
  void Flush();                        // writes what is buffered

 private:
  int fd_;
  std::string buf_;
};

}  // namespace gravity::proxy
