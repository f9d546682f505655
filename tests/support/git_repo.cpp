#include "support/git_repo.h"

#include <filesystem>

#include "common/fs.h"
#include "support/subprocess.h"

namespace gravity::test {

namespace {

const std::map<std::string, std::string>& GitEnv() {
  static const std::map<std::string, std::string> env = {
      {"GIT_AUTHOR_NAME", "Gravity Test"},    {"GIT_AUTHOR_EMAIL", "test@gravity.invalid"},
      {"GIT_COMMITTER_NAME", "Gravity Test"}, {"GIT_COMMITTER_EMAIL", "test@gravity.invalid"},
      {"GIT_CONFIG_NOSYSTEM", "1"},           {"GIT_CONFIG_GLOBAL", "/dev/null"},
      {"GIT_TERMINAL_PROMPT", "0"},           {"LC_ALL", "C"},
  };
  return env;
}

Result<std::string> RunGit(const std::string& cwd, std::vector<std::string> args) {
  std::vector<std::string> argv = {"git",
                                   "-c",
                                   "commit.gpgsign=false",
                                   "-c",
                                   "core.hooksPath=/dev/null",
                                   "-c",
                                   "protocol.file.allow=always"};
  argv.insert(argv.end(), args.begin(), args.end());
  ASSIGN_OR_RETURN(std::string out, RunOk(argv, cwd, GitEnv()));
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

}  // namespace

Result<GitRepo> GitRepo::Init(const std::string& dir, const std::string& branch) {
  RETURN_IF_ERROR(MakeDirs(dir));
  RETURN_IF_ERROR(RunGit(dir, {"init", "-q", "-b", branch, dir}).status());
  return GitRepo(dir);
}

Result<GitRepo> GitRepo::InitBare(const std::string& dir, const std::string& branch) {
  RETURN_IF_ERROR(MakeDirs(dir));
  RETURN_IF_ERROR(RunGit(dir, {"init", "-q", "--bare", "-b", branch, dir}).status());
  return GitRepo(dir);
}

Result<GitRepo> GitRepo::Clone(const std::string& url, const std::string& dir) {
  auto slash = dir.rfind('/');
  std::string parent = slash == std::string::npos || slash == 0 ? "/" : dir.substr(0, slash);
  RETURN_IF_ERROR(MakeDirs(parent));
  RETURN_IF_ERROR(RunGit(parent, {"clone", "-q", url, dir}).status());
  return GitRepo(dir);
}

Result<std::string> GitRepo::Git(const std::vector<std::string>& args) {
  return RunGit(path_, args);
}

Status GitRepo::WriteFile(const std::string& relative, const std::string& content, int mode) {
  std::string full = path_ + "/" + relative;
  RETURN_IF_ERROR(MakeDirs(full.substr(0, full.rfind('/'))));
  return WriteFileAtomic(full, content, mode);
}

Status GitRepo::RemoveFile(const std::string& relative) {
  return RemoveTree(path_ + "/" + relative);
}

Result<std::string> GitRepo::Commit(const std::string& message) {
  RETURN_IF_ERROR(Git({"add", "-A"}).status());
  RETURN_IF_ERROR(Git({"commit", "-q", "--allow-empty", "-m", message}).status());
  return Head();
}

Result<std::string> GitRepo::CommitFiles(const std::map<std::string, std::string>& files,
                                         const std::string& message) {
  for (const auto& [path, content] : files) RETURN_IF_ERROR(WriteFile(path, content));
  return Commit(message);
}

Status GitRepo::CreateBranch(const std::string& name, const std::string& from) {
  std::vector<std::string> args = {"checkout", "-q", "-B", name};
  if (!from.empty()) args.push_back(from);
  return Git(args).status();
}

Status GitRepo::Checkout(const std::string& ref) { return Git({"checkout", "-q", ref}).status(); }

Status GitRepo::DeleteBranch(const std::string& name) {
  return Git({"branch", "-q", "-D", name}).status();
}

Result<std::string> GitRepo::RevParse(const std::string& ref) {
  return Git({"rev-parse", "--verify", ref + "^{commit}"});
}

Status GitRepo::AddRemote(const std::string& name, const std::string& url) {
  return Git({"remote", "add", name, url}).status();
}

Status GitRepo::Push(const std::string& remote, const std::string& refspec, bool force) {
  std::vector<std::string> args = {"push", "-q"};
  if (force) args.push_back("--force");
  args.push_back(remote);
  args.push_back(refspec);
  return Git(args).status();
}

Status GitRepo::DeleteRemoteBranch(const std::string& remote, const std::string& branch) {
  return Git({"push", "-q", remote, "--delete", branch}).status();
}

Status GitRepo::SetRef(const std::string& branch, const std::string& commit) {
  return Git({"update-ref", "refs/heads/" + branch, commit}).status();
}

Result<GitRepo> SampleAppRepo(const std::string& dir, const std::string& branch) {
  ASSIGN_OR_RETURN(GitRepo bare, GitRepo::InitBare(dir + "/site.git", branch));
  (void)bare;
  ASSIGN_OR_RETURN(GitRepo work, GitRepo::Init(dir + "/work", branch));
  std::error_code ec;
  std::filesystem::copy(std::string(GRAVITY_SOURCE_DIR) + "/examples/automation", work.path(),
                        std::filesystem::copy_options::recursive |
                            std::filesystem::copy_options::overwrite_existing,
                        ec);
  if (ec) return Status::Error("copying the sample app: " + ec.message());
  RETURN_IF_ERROR(work.Commit("The sample app").status());
  RETURN_IF_ERROR(work.AddRemote("origin", dir + "/site.git"));
  RETURN_IF_ERROR(work.Push("origin", branch));
  return work;
}

}  // namespace gravity::test
