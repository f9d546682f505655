#pragma once

#include "common/thread_annotations.h"

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/status.h"

struct git_repository;

namespace gravity::pipeline {

// The state of one branch after a fetch: its tip, or why there is none.
struct BranchTip {
  std::string commit;  // 40 hex; empty when `error` is set
  std::string error;   // e.g. "branch 'staging' not found on the remote"
};

// One reference to libgit2's global state: git_libgit2_init() on construction,
// git_libgit2_shutdown() on destruction (libgit2 counts them; the last shutdown frees
// its caches and settings). Every libgit2 call happens while one is alive.
class LibGit2 {
 public:
  LibGit2();
  ~LibGit2();
  LibGit2(const LibGit2&) = delete;
  LibGit2& operator=(const LibGit2&) = delete;
};

// A bare libgit2 mirror of one app's repository (path, file://, https://, ssh://).
// Thread-safe: every operation holds mutex_ (libgit2 objects are not shared).
class Mirror {
 public:
  ~Mirror();
  Mirror(const Mirror&) = delete;
  Mirror& operator=(const Mirror&) = delete;

  // Opens the bare repository at `path`, creating it when missing.
  static Result<std::unique_ptr<Mirror>> Open(const std::string& path, const std::string& url);

  const std::string& url() const { return url_; }

  // Connects to the remote, lists its branches and force-fetches the named ones into
  // refs/heads/<branch> (a force-push is simply a new tip). The map has one entry per
  // requested branch. An unreachable remote is an error naming the URL.
  Result<std::map<std::string, BranchTip>> FetchBranches(const std::vector<std::string>& branches);

  // Fetches all branches and tags, then resolves `ref` (branch, tag, full or short commit
  // id) to a commit id.
  Result<std::string> FetchAndResolve(const std::string& ref);

  // Resolves `ref` locally without fetching.
  Result<std::string> Resolve(const std::string& ref);

  // Writes the tree of `commit` (no .git) into `dest`, which must not exist yet.
  // Executable bits and symlinks are kept; submodules become empty directories.
  Status Export(const std::string& commit, const std::string& dest);

  // One-line subject of a commit's message ("" when unknown).
  std::string Subject(const std::string& commit);
  // The name of the commit's author ("" when unknown).
  std::string Author(const std::string& commit);

 private:
  Mirror(std::unique_ptr<LibGit2> libgit2, git_repository* repo, std::string path, std::string url)
      : libgit2_(std::move(libgit2)), repo_(repo), path_(std::move(path)), url_(std::move(url)) {}
  Status Fetch(const std::vector<std::string>& refspecs) REQUIRES(mutex_);
  Result<std::string> ResolveLocked(const std::string& ref) REQUIRES(mutex_);

  // Immutable; declared first so libgit2 stays initialized until repo_ has been freed.
  const std::unique_ptr<LibGit2> libgit2_;
  Mutex mutex_;
  git_repository* repo_ GUARDED_BY(mutex_);
  const std::string path_;  // immutable
  const std::string url_;   // immutable
};

}  // namespace gravity::pipeline
