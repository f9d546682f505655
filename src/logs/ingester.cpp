#include "logs/ingester.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <vector>

namespace gravity::logs {

namespace fs = std::filesystem;

namespace {

// Days since 1970-01-01 of a civil date (proleptic Gregorian).
std::int64_t DaysFromCivil(int y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return static_cast<std::int64_t>(era) * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

bool Digits(std::string_view s, std::size_t at, std::size_t n, int* out) {
  int v = 0;
  for (std::size_t i = at; i < at + n; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *out = v;
  return true;
}

std::string_view StreamName(std::string_view wrapper_stream) {
  if (wrapper_stream == "out") return "stdout";
  if (wrapper_stream == "err") return "stderr";
  return wrapper_stream;
}

}  // namespace

bool ParseInstanceLine(std::string_view raw, Entry* e) {
  // 2025-01-31T12:00:00.123Z = 24 characters, then ' ', stream, ' ', text.
  if (raw.size() < 26 || raw[4] != '-' || raw[7] != '-' || raw[10] != 'T' || raw[13] != ':' ||
      raw[16] != ':' || raw[19] != '.' || raw[23] != 'Z' || raw[24] != ' ') {
    return false;
  }
  int y, mo, d, h, mi, s, ms;
  if (!Digits(raw, 0, 4, &y) || !Digits(raw, 5, 2, &mo) || !Digits(raw, 8, 2, &d) ||
      !Digits(raw, 11, 2, &h) || !Digits(raw, 14, 2, &mi) || !Digits(raw, 17, 2, &s) ||
      !Digits(raw, 20, 3, &ms) || mo < 1 || mo > 12 || d < 1 || d > 31) {
    return false;
  }
  std::int64_t secs = DaysFromCivil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d)) *
                          86400 +
                      h * 3600 + mi * 60 + s;
  e->time_ns = secs * 1000000000 + std::int64_t{ms} * 1000000;
  std::string_view rest = raw.substr(25);
  std::size_t sp = rest.find(' ');
  e->stream = StreamName(rest.substr(0, sp));
  e->text = CleanText(sp == std::string_view::npos ? std::string_view() : rest.substr(sp + 1));
  return true;
}

bool ParseAccessLine(std::string_view raw, Entry* e) {
  auto j = nlohmann::json::parse(raw, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return false;
  auto str = [&](const char* k) {
    auto it = j.find(k);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  std::int64_t ns = 0;
  if (!ParseRfc3339(str("time"), &ns)) return false;
  e->time_ns = ns;
  std::string service = str("service");
  std::size_t dot = service.rfind('.');
  e->app = dot == std::string::npos ? (service.empty() ? "-" : service) : service.substr(0, dot);
  e->env = dot == std::string::npos ? "" : service.substr(dot + 1);
  e->instance = str("target");
  e->source = kSourceProxy;
  e->stream = "access";
  e->request_id = str("request_id");
  e->method = str("method");
  e->path = str("path");
  auto status = j.find("status");
  e->status = status != j.end() && status->is_number_integer() ? status->get<int>() : 0;
  auto dur = j.find("duration_ms");
  e->duration_us =
      dur != j.end() && dur->is_number() ? static_cast<std::int64_t>(dur->get<double>() * 1000) : 0;
  e->text = CleanText(raw);
  return true;
}

// A file family: the live file and its rotated predecessor, under one key.
struct Ingester::FileRef {
  std::string key;   // offsets are saved under this name
  std::string path;  // the live file; `path.1` is the rotated one
  bool access = false;
  std::string app, env, release, instance;  // instance logs
};

Result<IngestStats> Ingester::RunOnce(std::size_t budget, std::vector<Entry>* committed) {
  std::vector<FileRef> refs;
  std::error_code ec;
  // <app>/<env>/<release>/<instance>.log
  for (const auto& a : fs::directory_iterator(logs_root_, ec)) {
    if (!a.is_directory(ec)) continue;
    for (const auto& e : fs::directory_iterator(a.path(), ec)) {
      if (!e.is_directory(ec)) continue;
      for (const auto& r : fs::directory_iterator(e.path(), ec)) {
        if (!r.is_directory(ec)) continue;
        for (const auto& f : fs::directory_iterator(r.path(), ec)) {
          std::string name = f.path().filename();
          bool live = name.size() > 4 && name.compare(name.size() - 4, 4, ".log") == 0;
          bool rotated = name.size() > 6 && name.compare(name.size() - 6, 6, ".log.1") == 0;
          if (!live && !rotated) continue;
          std::string base = live ? name : name.substr(0, name.size() - 2);
          FileRef ref;
          ref.path = r.path() / base;
          ref.app = a.path().filename();
          ref.env = e.path().filename();
          ref.release = r.path().filename();
          ref.instance = base.substr(0, base.size() - 4);
          ref.key = ref.app + "/" + ref.env + "/" + ref.release + "/" + base;
          bool dup = false;
          for (const auto& o : refs) dup = dup || o.key == ref.key;
          if (!dup) refs.push_back(std::move(ref));
        }
      }
    }
  }
  if (!access_log_.empty()) {
    FileRef ref;
    ref.key = "access.log";
    ref.path = access_log_;
    ref.access = true;
    refs.push_back(std::move(ref));
  }
  IngestStats stats;
  std::vector<Entry> taken;
  Status st = store_.Write([&](WriteBatch& batch) {
    std::vector<std::pair<std::string, std::int64_t>> seen;
    for (const auto& ref : refs) {
      RETURN_IF_ERROR(IngestFile(batch, ref, budget, &stats, &seen, committed ? &taken : nullptr));
    }
    return batch.ForgetOffsetsExcept(seen);
  });
  if (!st.ok()) return st;
  if (committed) *committed = std::move(taken);
  return stats;
}

// One line of `ref`'s file as a store entry (`e` is reused: every field is set). A line
// that does not parse is kept as it is, at `last_time` (the time of the line before).
void Ingester::ToEntry(const FileRef& ref, std::string_view line, std::int64_t last_time,
                       Entry* e) {
  e->request_id.clear();
  e->method.clear();
  e->path.clear();
  e->status = 0;
  e->duration_us = 0;
  bool parsed;
  if (ref.access) {
    parsed = ParseAccessLine(line, e);
  } else {
    e->app = ref.app;
    e->env = ref.env;
    e->release = ref.release;
    e->instance = ref.instance;
    e->source = kSourceApp;
    parsed = ParseInstanceLine(line, e);
  }
  if (parsed) return;
  e->time_ns = last_time;
  e->stream = ref.access ? "access" : "stdout";
  if (ref.access) {
    e->app = "-";
    e->env.clear();
    e->instance.clear();
    e->source = kSourceProxy;
  }
  e->text = CleanText(line);
}

Status Ingester::IngestFile(WriteBatch& batch, const FileRef& ref, std::size_t budget,
                            IngestStats* stats,
                            std::vector<std::pair<std::string, std::int64_t>>* seen,
                            std::vector<Entry>* stored) {
  // The rotated file first: it holds the older lines.
  std::int64_t seen_inodes[2] = {-1, -1};
  for (int k = 0; k < 2; ++k) {
    std::string path = k == 0 ? ref.path + ".1" : ref.path;
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      ::close(fd);
      continue;
    }
    auto inode = static_cast<std::int64_t>(st.st_ino);
    if (inode == seen_inodes[0]) {  // renamed between the two opens: already read
      ::close(fd);
      continue;
    }
    seen_inodes[k] = inode;
    seen->emplace_back(ref.key, inode);
    std::int64_t offset = batch.Offset(ref.key, inode).value_or(0);
    if (offset > st.st_size) offset = 0;  // truncated: start again
    std::int64_t start = offset;
    std::string buf;
    std::size_t taken = 0;
    Entry e;
    std::int64_t last_time = std::chrono::duration_cast<std::chrono::nanoseconds>(
                    clock_.WallNow().time_since_epoch())
                    .count();
    constexpr std::size_t kChunk = 1 << 20;
    while (taken < budget) {
      std::size_t keep = buf.size();
      buf.resize(keep + kChunk);
      ssize_t n = ::pread(fd, buf.data() + keep, kChunk, offset + static_cast<std::int64_t>(keep));
      if (n < 0 && errno == EINTR) {
        buf.resize(keep);
        continue;
      }
      if (n <= 0) {
        buf.resize(keep);
        break;
      }
      buf.resize(keep + static_cast<std::size_t>(n));
      std::size_t pos = 0;
      while (true) {
        std::size_t nl = buf.find('\n', pos);
        std::string_view line;
        if (nl == std::string::npos) {
          // A line longer than what a store line keeps, without its end yet: taken as it
          // is (cut), the rest follows as further lines.
          if (buf.size() - pos < kMaxText + kChunk) break;
          line = std::string_view(buf).substr(pos, kMaxText);
          nl = pos + kMaxText - 1;
        } else {
          line = std::string_view(buf).substr(pos, nl - pos);
        }
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        ToEntry(ref, line, last_time, &e);
        last_time = e.time_ns;
        RETURN_IF_ERROR(batch.Add(e));
        if (stored) stored->push_back(e);
        ++stats->lines;
        pos = nl + 1;
      }
      taken += pos;
      offset += static_cast<std::int64_t>(pos);
      buf.erase(0, pos);
    }
    ::close(fd);
    if (offset != start) {
      ++stats->files;
      stats->bytes += static_cast<std::size_t>(offset - start);
    }
    RETURN_IF_ERROR(batch.SetOffset(ref.key, inode, offset));
  }
  return Status::Ok();
}

}  // namespace gravity::logs
