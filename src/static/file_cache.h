#pragma once

// The files of the served directory, opened safely and kept in memory when small.
//
// Every open goes through OpenBeneath(): openat2(RESOLVE_BENEATH) relative to the
// directory's descriptor, so "..", absolute symlinks and symlinks leading out are refused
// by the kernel. Where openat2 is unavailable the opened descriptor's real path is checked
// instead. A cached entry is revalidated on every use with one stat (device, inode, size,
// mtime); any difference reopens the file.
//
// Thread-safety: none; one FileCache belongs to one server thread.

#include <sys/stat.h>
#include <sys/types.h>

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
                                                 std::size_t max_total_bytes);
  ~FileCache();

  // `relative` is a normalized relative path (see ParseTarget); "" is the directory.
  Lookup Get(const std::string& relative);

  const std::string& root() const { return root_real_; }
  std::size_t cached_bytes() const { return bytes_; }

 private:
  FileCache(int root_fd, std::string root_real, std::size_t max_file, std::size_t max_total);
  // Opens `relative` for reading without leaving the directory; -1 with errno set.
  int OpenBeneath(const std::string& relative);
  Lookup Load(const std::string& relative);

  int root_fd_;
  std::string root_real_;
  std::size_t max_file_bytes_;
  std::size_t max_total_bytes_;
  std::size_t bytes_ = 0;
  bool have_openat2_ = true;
  std::unordered_map<std::string, std::shared_ptr<const FileEntry>> entries_;
};

}  // namespace gravity::static_server
