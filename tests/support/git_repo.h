#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/status.h"

namespace gravity::test {

// A git repository in a directory of the test's (usually a TempDir), driven through the git
// CLI with a fixed identity and no global or system configuration, so tests behave the same
// on every machine. Not thread-safe.
class GitRepo;

// The sample app (examples/automation) committed in DIR/work on `branch` and pushed to
// the bare repository DIR/site.git (what a stack's `repo: ./site.git` names). Returns the
// working copy, for later commits.
Result<GitRepo> SampleAppRepo(const std::string& dir, const std::string& branch = "staging");

class GitRepo {
 public:
  // `git init` of a work tree at `dir` (created if missing) on `branch`.
  static Result<GitRepo> Init(const std::string& dir, const std::string& branch = "main");
  // `git init --bare` at `dir`: a remote to push to.
  static Result<GitRepo> InitBare(const std::string& dir, const std::string& branch = "main");
  // `git clone url dir`.
  static Result<GitRepo> Clone(const std::string& url, const std::string& dir);

  const std::string& path() const { return path_; }
  // file:// URL of this repository.
  std::string Url() const { return "file://" + path_; }

  // Writes a file of the work tree (parent directories made); `mode` 0755 for scripts.
  Status WriteFile(const std::string& relative, const std::string& content, int mode = 0644);
  Status RemoveFile(const std::string& relative);
  // `git add -A` and commit (empty commits allowed); returns the new commit id.
  Result<std::string> Commit(const std::string& message);
  // Writes the files, then Commit().
  Result<std::string> CommitFiles(const std::map<std::string, std::string>& files,
                                  const std::string& message);

  // `git checkout -B name [from]`: creates or resets the branch and switches to it.
  Status CreateBranch(const std::string& name, const std::string& from = "");
  Status Checkout(const std::string& ref);
  Status DeleteBranch(const std::string& name);  // git branch -D
  Result<std::string> Head() { return RevParse("HEAD"); }
  Result<std::string> RevParse(const std::string& ref);

  Status AddRemote(const std::string& name, const std::string& url);
  // `git push [--force] remote refspec`.
  Status Push(const std::string& remote, const std::string& refspec, bool force = false);
  // `git push remote --delete branch`.
  Status DeleteRemoteBranch(const std::string& remote, const std::string& branch);
  // In a bare repository: points `branch` at `commit` directly (git update-ref), e.g. to
  // simulate a force-push without a work tree.
  Status SetRef(const std::string& branch, const std::string& commit);

  // Any git command in this repository; returns stdout without the trailing newline.
  Result<std::string> Git(const std::vector<std::string>& args);

 private:
  explicit GitRepo(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

}  // namespace gravity::test
