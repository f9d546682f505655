#include "support/temp_dir.h"

#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <utility>

#include "common/fs.h"

namespace gravity::test {

TempDir::TempDir(const std::string& prefix) {
  auto dir = MakeTempDir(prefix);
  if (!dir.ok()) {
    std::fprintf(stderr, "TempDir: %s\n", dir.error().c_str());
    std::abort();
  }
  path_ = *dir;
}

TempDir::~TempDir() {
  if (!path_.empty() && !keep_) (void)RemoveTree(path_);
}

TempDir::TempDir(TempDir&& other) noexcept
    : path_(std::exchange(other.path_, std::string())), keep_(other.keep_) {}

TempDir& TempDir::operator=(TempDir&& other) noexcept {
  if (this != &other) {
    if (!path_.empty() && !keep_) (void)RemoveTree(path_);
    path_ = std::exchange(other.path_, std::string());
    keep_ = other.keep_;
  }
  return *this;
}

std::string TempDir::Join(const std::string& relative) const {
  if (relative.empty()) return path_;
  return path_ + "/" + relative;
}

std::string TempDir::Write(const std::string& relative, const std::string& content, int mode) {
  std::string full = Join(relative);
  auto slash = full.rfind('/');
  Status st = MakeDirs(full.substr(0, slash));
  if (st.ok()) st = WriteFileAtomic(full, content, mode);
  if (!st.ok()) {
    std::fprintf(stderr, "TempDir::Write: %s\n", st.message().c_str());
    std::abort();
  }
  return full;
}

}  // namespace gravity::test
