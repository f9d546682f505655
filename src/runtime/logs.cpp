#include "runtime/logs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace gravity::runtime {

std::optional<LogLine> ParseLogLine(std::string_view raw) {
  // 2025-01-31T12:00:00.123Z = 24 characters, then ' ', stream, ' ', text.
  if (raw.size() < 26 || raw[4] != '-' || raw[10] != 'T' || raw[23] != 'Z' || raw[24] != ' ') {
    return std::nullopt;
  }
  std::tm tm{};
  int ms = 0;
  std::string head(raw.substr(0, 24));
  if (std::sscanf(head.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon,
                  &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) != 7) {
    return std::nullopt;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  std::time_t secs = ::timegm(&tm);
  LogLine line;
  line.time = std::chrono::system_clock::from_time_t(secs) + std::chrono::milliseconds(ms);
  std::string_view rest = raw.substr(25);
  size_t sp = rest.find(' ');
  if (sp == std::string_view::npos) {
    line.stream = std::string(rest);
  } else {
    line.stream = std::string(rest.substr(0, sp));
    line.text = std::string(rest.substr(sp + 1));
  }
  return line;
}

Result<std::vector<std::string>> TailLines(const std::string& path, size_t n, size_t max_bytes) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::Error("cannot open " + path + ": " + std::strerror(errno));
  struct stat st {};
  ::fstat(fd, &st);
  off_t size = st.st_size;
  off_t start = size > static_cast<off_t>(max_bytes) ? size - static_cast<off_t>(max_bytes) : 0;
  std::string data(static_cast<size_t>(size - start), '\0');
  size_t got = 0;
  while (got < data.size()) {
    ssize_t r = ::pread(fd, data.data() + got, data.size() - got, start + static_cast<off_t>(got));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += static_cast<size_t>(r);
  }
  ::close(fd);
  data.resize(got);
  std::vector<std::string> lines;
  size_t pos = 0;
  if (start > 0) {  // skip the partial first line
    size_t nl = data.find('\n');
    pos = nl == std::string::npos ? data.size() : nl + 1;
  }
  while (pos < data.size()) {
    size_t nl = data.find('\n', pos);
    if (nl == std::string::npos) nl = data.size();
    lines.push_back(data.substr(pos, nl - pos));
    pos = nl + 1;
  }
  if (lines.size() > n) lines.erase(lines.begin(), lines.end() - static_cast<long>(n));
  return lines;
}

std::string LastExitFromLog(const std::string& path) {
  auto lines = TailLines(path, 50, 64 * 1024);
  if (!lines.ok()) return "";
  for (auto it = lines->rbegin(); it != lines->rend(); ++it) {
    auto line = ParseLogLine(*it);
    if (!line || line->stream != "gravity") continue;
    if (line->text.rfind("started pid", 0) == 0) return "";
    if (line->text.rfind("exited", 0) == 0 || line->text.rfind("killed", 0) == 0 ||
        line->text.rfind("ended", 0) == 0) {
      return line->text;
    }
  }
  return "";
}

}  // namespace gravity::runtime
