#include "proxy/access_log.h"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>

namespace gravity::proxy {

namespace {
constexpr std::size_t kFlushBytes = 64 * 1024;
}

void AppendJsonString(std::string* out, std::string_view s) {
  out->push_back('"');
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(static_cast<char>(c));
    } else if (c < 0x20 || c >= 0x7f) {
      fmt::format_to(std::back_inserter(*out), "\\u{:04x}", c);
    } else {
      out->push_back(static_cast<char>(c));
    }
  }
  out->push_back('"');
}

void AppendAccessLine(const AccessRecord& r, std::string* out) {
  std::time_t secs = static_cast<std::time_t>(r.wall_ms / 1000);
  fmt::format_to(std::back_inserter(*out), "{{\"time\":\"{:%Y-%m-%dT%H:%M:%S}.{:03d}Z\"",
                 fmt::gmtime(secs), static_cast<int>(r.wall_ms % 1000));
  auto field = [out](std::string_view name, std::string_view value) {
    out->append(",\"").append(name).append("\":");
    AppendJsonString(out, value);
  };
  field("request_id", r.request_id);
  field("method", r.method);
  field("host", r.host);
  field("path", r.path);
  fmt::format_to(std::back_inserter(*out), ",\"status\":{},\"bytes\":{},\"duration_ms\":{:.3f}",
                 r.status, r.bytes, static_cast<double>(r.micros) / 1000.0);
  field("service", r.service);
  field("pool", r.pool);
  field("target", r.target);
  field("protocol", r.protocol);
  out->append("}\n");
}

void AccessLog::Append(const AccessRecord& r) {
  if (fd_ < 0) return;
  AppendAccessLine(r, &buf_);
  if (buf_.size() >= kFlushBytes) Flush();
}

void AccessLog::Flush() {
  if (fd_ < 0 || buf_.empty()) return;
  const char* p = buf_.data();
  std::size_t left = buf_.size();
  while (left > 0) {
    ssize_t n = ::write(fd_, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;  // a full disk loses log lines, never requests
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  buf_.clear();
}

}  // namespace gravity::proxy
