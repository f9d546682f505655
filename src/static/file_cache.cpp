#include "static/file_cache.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "static/http_util.h"

namespace gravity::static_server {

namespace {

constexpr std::size_t kMaxEntries = 20'000;

bool SameFile(const struct stat& st, const FileEntry& e) {
  return st.st_dev == e.dev && st.st_ino == e.ino &&
         static_cast<std::uint64_t>(st.st_size) == e.size && st.st_mtim.tv_sec == e.mtime.tv_sec &&
         st.st_mtim.tv_nsec == e.mtime.tv_nsec;
}

FileCache::Kind KindForErrno(int err) {
  return err == EACCES || err == EPERM ? FileCache::Kind::kForbidden : FileCache::Kind::kNotFound;
}

}  // namespace

Result<std::unique_ptr<FileCache>> FileCache::Open(const std::string& root,
                                                   std::size_t max_file_bytes,
                                                   std::size_t max_total_bytes,
                                                   std::chrono::nanoseconds revalidate_after) {
  char* real = realpath(root.c_str(), nullptr);
  if (!real) return Status::Error(root + ": " + std::strerror(errno));
  std::string root_real = real;
  free(real);
  int fd = open(root_real.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::Error(root + ": " + std::strerror(errno));
  return std::unique_ptr<FileCache>(
      new FileCache(fd, std::move(root_real), max_file_bytes, max_total_bytes, revalidate_after));
}

FileCache::FileCache(int root_fd, std::string root_real, std::size_t max_file,
                     std::size_t max_total, std::chrono::nanoseconds revalidate_after)
    : root_fd_(root_fd),
      root_real_(std::move(root_real)),
      max_file_bytes_(max_file),
      max_total_bytes_(max_total),
      revalidate_after_(revalidate_after) {}

FileCache::~FileCache() { close(root_fd_); }

int FileCache::OpenBeneath(const std::string& relative) {
  const char* path = relative.empty() ? "." : relative.c_str();
  // O_NONBLOCK: opening a FIFO must not block the server.
  const int flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
  if (have_openat2_) {
    struct open_how how {};
    how.flags = flags;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    long fd = syscall(SYS_openat2, root_fd_, path, &how, sizeof how);
    if (fd >= 0) return static_cast<int>(fd);
    if (errno != ENOSYS) {
      if (errno == EXDEV || errno == ELOOP) errno = ENOENT;  // leads out of the directory
      return -1;
    }
    have_openat2_ = false;
  }
  // Fallback: open, then check where the descriptor really points.
  int fd = openat(root_fd_, path, flags);
  if (fd < 0) return -1;
  char link[64], target[4096];
  std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, target, sizeof target - 1);
  if (n < 0) {
    close(fd);
    errno = ENOENT;
    return -1;
  }
  std::string_view where(target, static_cast<size_t>(n));
  bool inside = where == root_real_ || (where.size() > root_real_.size() &&
                                        where.substr(0, root_real_.size()) == root_real_ &&
                                        (root_real_ == "/" || where[root_real_.size()] == '/'));
  if (!inside) {
    close(fd);
    errno = ENOENT;
    return -1;
  }
  return fd;
}

FileCache::Lookup FileCache::Get(const std::string& relative,
                                 std::chrono::steady_clock::time_point now) {
  auto it = entries_.find(relative);
  if (it != entries_.end()) {
    Cached& c = it->second;
    bool fresh = now - c.checked < revalidate_after_;
    if (!fresh) {
      struct stat st;
      int rc = fstatat(root_fd_, relative.empty() ? "." : relative.c_str(), &st, 0);
      fresh = rc == 0 && S_ISREG(st.st_mode) && SameFile(st, *c.entry);
      if (fresh) c.checked = now;
    }
    if (fresh) {
      Lookup hit{Kind::kFile, c.entry, -1};
      if (hit.entry->content) return hit;
      // Large file: open it again, and make sure it is still the file that was checked.
      int fd = OpenBeneath(relative);
      struct stat fst;
      if (fd >= 0 && fstat(fd, &fst) == 0 && SameFile(fst, *hit.entry)) {
        hit.fd = fd;
        return hit;
      }
      if (fd >= 0) close(fd);
    }
    bytes_ -= c.entry->content ? c.entry->content->size() : 0;
    entries_.erase(it);
  }
  return Load(relative, now);
}

FileCache::Lookup FileCache::Load(const std::string& relative,
                                  std::chrono::steady_clock::time_point now) {
  int fd = OpenBeneath(relative);
  if (fd < 0) return {KindForErrno(errno), nullptr, -1};
  struct stat st;
  if (fstat(fd, &st) != 0) {
    close(fd);
    return {Kind::kNotFound, nullptr, -1};
  }
  if (S_ISDIR(st.st_mode)) {
    close(fd);
    return {Kind::kDirectory, nullptr, -1};
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return {Kind::kNotFound, nullptr, -1};
  }
  auto e = std::make_shared<FileEntry>();
  e->dev = st.st_dev;
  e->ino = st.st_ino;
  e->size = static_cast<std::uint64_t>(st.st_size);
  e->mtime = st.st_mtim;
  e->mtime_sec = st.st_mtim.tv_sec;
  e->content_type = std::string(ContentTypeFor(relative));
  char etag[96];
  std::snprintf(etag, sizeof etag, "\"%llx-%llx-%llx\"", static_cast<unsigned long long>(st.st_ino),
                static_cast<unsigned long long>(st.st_size),
                static_cast<unsigned long long>(st.st_mtim.tv_sec) * 1000000000ull +
                    static_cast<unsigned long long>(st.st_mtim.tv_nsec));
  e->etag = etag;
  e->last_modified = FormatHttpDate(e->mtime_sec);
  e->headers_200 = "Content-Type: " + e->content_type +
                   "\r\nContent-Length: " + std::to_string(e->size) +
                   "\r\nLast-Modified: " + e->last_modified + "\r\nETag: " + e->etag +
                   "\r\nAccept-Ranges: bytes\r\n";

  Lookup out{Kind::kFile, nullptr, -1};
  if (e->size <= max_file_bytes_) {
    auto content = std::make_shared<std::string>();
    content->resize(e->size);
    std::size_t got = 0;
    while (got < e->size) {
      ssize_t n = pread(fd, content->data() + got, e->size - got, static_cast<off_t>(got));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      got += static_cast<std::size_t>(n);
    }
    close(fd);
    if (got != e->size) return {Kind::kNotFound, nullptr, -1};  // changed while reading
    e->content = std::move(content);
  } else {
    out.fd = fd;
  }

  std::size_t add = e->content ? e->content->size() : 0;
  if (entries_.size() >= kMaxEntries || bytes_ + add > max_total_bytes_) {
    entries_.clear();  // simple and bounded: start over
    bytes_ = 0;
  }
  if (bytes_ + add <= max_total_bytes_) {
    bytes_ += add;
    entries_[relative] = Cached{e, now};
  }
  out.entry = std::move(e);
  return out;
}

}  // namespace gravity::static_server
