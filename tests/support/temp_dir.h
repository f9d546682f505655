#pragma once

#include <string>

namespace gravity::test {

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it on destruction.
// Aborts the test process when the directory cannot be made. Not thread-safe; movable.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "gravity-test");
  ~TempDir();
  TempDir(TempDir&& other) noexcept;
  TempDir& operator=(TempDir&& other) noexcept;
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // path()/relative.
  std::string Join(const std::string& relative) const;
  // Writes path()/relative (making parent directories); returns the full path. Aborts on error.
  std::string Write(const std::string& relative, const std::string& content, int mode = 0644);
  // Keeps the directory after destruction (for post-mortem of a failing test).
  void Keep() { keep_ = true; }

 private:
  std::string path_;
  bool keep_ = false;
};

}  // namespace gravity::test
