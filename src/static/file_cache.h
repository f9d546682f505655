#pragma once

// The files of the served directory, opened safely and kept in memory when small.
//
// Every open goes through OpenBeneath(): openat2(RESOLVE_BENEATH) relative to the
// directory's descriptor, so "..", absolute symlinks and symlinks leading out are refused
// by the kernel. Where openat2 is unavailable the opened descriptor's real path is checked
// instead. A cached entry is revalidated with one stat (device, inode, size, mtime) when it
// was last checked more than `revalidate_after` ago (0: on every use); any difference
// reopens the file.
//
// Thread-safety: none; one FileCache belongs to one server thread.

#include <sys/stat.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <ctime>
#include <memory>
#include <string>
#include <unordered_map>

#include "common/status.h"

namespace gravity::static_server {

struct FileEntry {
  dev_t dev = 0;
  ino_t ino = 0;
  std::uint64_t size = 0;
  struct timespec mtime {};
  std::string content_type;
  std::string etag;           // "\"...\"" (strong)
  std::string last_modified;  // IMF-fixdate
  std::time_t mtime_sec = 0;
  // "Content-Type: ..\r\nContent-Length: N\r\nLast-Modified: ..\r\nETag: ..\r\n
  //  Accept-Ranges: bytes\r\n" of a full 200 answer.
  std::string headers_200;
  std::shared_ptr<const std::string> content;  // null when the file is too big to cache
};

class FileCache {
 public:
  enum class Kind { kFile, kDirectory, kNotFound, kForbidden };
  struct Lookup {
    Kind kind = Kind::kNotFound;
    std::shared_ptr<const FileEntry> entry;  // kFile
    int fd = -1;  // kFile without content: an open descriptor the caller must close
  };

  // `root` must be a directory. Errors name the path.
  static Result<std::unique_ptr<FileCache>> Open(const std::string& root,
                                                 std::size_t max_file_bytes,
                                                 std::size_t max_total_bytes,
                                                 std::chrono::nanoseconds revalidate_after);
  ~FileCache();

  // `relative` is a normalized relative path (see ParseTarget); "" is the directory.
  // `now` is a steady-clock reading.
  Lookup Get(const std::string& relative, std::chrono::steady_clock::time_point now);

  const std::string& root() const { return root_real_; }
  std::size_t cached_bytes() const { return bytes_; }

 private:
  FileCache(int root_fd, std::string root_real, std::size_t max_file, std::size_t max_total,
            std::chrono::nanoseconds revalidate_after);
  // Opens `relative` for reading without leaving the directory; -1 with errno set.
  int OpenBeneath(const std::string& relative);
  Lookup Load(const std::string& relative, std::chrono::steady_clock::time_point now);

  struct Cached {
    std::shared_ptr<const FileEntry> entry;
    std::chrono::steady_clock::time_point checked;
  };

  int root_fd_;
  std::string root_real_;
  std::size_t max_file_bytes_;
  std::size_t max_total_bytes_;
  std::size_t bytes_ = 0;
  std::chrono::nanoseconds revalidate_after_;
  bool have_openat2_ = true;
  std::unordered_map<std::string, Cached> entries_;
};

}  // namespace gravity::static_server
