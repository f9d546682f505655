#include "pipeline/mirror.h"

#include <fcntl.h>
#include <git2.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>

#include "common/fs.h"

namespace gravity::pipeline {

namespace {

std::string GitError(int rc) {
  const git_error* e = git_error_last();
  if (e && e->message) return e->message;
  return "libgit2 error " + std::to_string(rc);
}

template <typename T, void (*Free)(T*)>
struct Owned {
  T* p = nullptr;
  ~Owned() {
    if (p) Free(p);
  }
};

int Credentials(git_credential** out, const char*, const char* username_from_url,
                unsigned int allowed, void* payload) {
  int* attempts = static_cast<int*>(payload);
  if (++*attempts > 1) return GIT_EUSER;  // never loop on bad credentials
  if (allowed & GIT_CREDENTIAL_SSH_KEY) {
    return git_credential_ssh_key_from_agent(out, username_from_url ? username_from_url : "git");
  }
  if (allowed & GIT_CREDENTIAL_DEFAULT) return git_credential_default_new(out);
  return GIT_PASSTHROUGH;
}

// Remote URL as libgit2 wants it: local paths as given.
std::string Describe(const std::string& url) { return "'" + url + "'"; }

}  // namespace

LibGit2::LibGit2() { git_libgit2_init(); }
LibGit2::~LibGit2() { git_libgit2_shutdown(); }

Mirror::~Mirror() {
  MutexLock lock(mutex_);
  git_repository_free(repo_);
}

Result<std::unique_ptr<Mirror>> Mirror::Open(const std::string& path, const std::string& url) {
  auto libgit2 = std::make_unique<LibGit2>();  // before any other libgit2 call
  git_repository* repo = nullptr;
  int rc = git_repository_open_bare(&repo, path.c_str());
  if (rc != 0) {
    RETURN_IF_ERROR(MakeDirs(path));
    rc = git_repository_init(&repo, path.c_str(), /*is_bare=*/1);
    if (rc != 0) {
      return Status::Error("cannot create the mirror " + path + ": " + GitError(rc));
    }
  }
  return std::unique_ptr<Mirror>(new Mirror(std::move(libgit2), repo, path, url));
}

Status Mirror::Fetch(const std::vector<std::string>& refspecs) {
  Owned<git_remote, git_remote_free> remote;
  int rc = git_remote_create_anonymous(&remote.p, repo_, url_.c_str());
  if (rc != 0) return Status::Error("remote " + Describe(url_) + ": " + GitError(rc));
  std::vector<char*> specs;
  std::vector<std::string> storage = refspecs;
  for (auto& s : storage) specs.push_back(s.data());
  git_strarray arr{specs.data(), specs.size()};
  git_fetch_options opts = GIT_FETCH_OPTIONS_INIT;
  int attempts = 0;
  opts.callbacks.credentials = Credentials;
  opts.callbacks.payload = &attempts;
  opts.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
  rc = git_remote_fetch(remote.p, &arr, &opts, nullptr);
  if (rc != 0) return Status::Error("fetching from " + Describe(url_) + ": " + GitError(rc));
  return Status::Ok();
}

Result<std::map<std::string, BranchTip>> Mirror::FetchBranches(
    const std::vector<std::string>& branches) {
  MutexLock lock(mutex_);
  // List the remote's branches first so a missing one is reported, not silently kept.
  Owned<git_remote, git_remote_free> remote;
  int rc = git_remote_create_anonymous(&remote.p, repo_, url_.c_str());
  if (rc != 0) return Status::Error("remote " + Describe(url_) + ": " + GitError(rc));
  git_remote_callbacks callbacks = GIT_REMOTE_CALLBACKS_INIT;
  int attempts = 0;
  callbacks.credentials = Credentials;
  callbacks.payload = &attempts;
  rc = git_remote_connect(remote.p, GIT_DIRECTION_FETCH, &callbacks, nullptr, nullptr);
  if (rc != 0) {
    return Status::Error("cannot reach the remote " + Describe(url_) + ": " + GitError(rc));
  }
  const git_remote_head** heads = nullptr;
  size_t count = 0;
  rc = git_remote_ls(&heads, &count, remote.p);
  if (rc != 0) {
    return Status::Error("listing the remote " + Describe(url_) + ": " + GitError(rc));
  }
  std::set<std::string> present;
  for (size_t i = 0; i < count; ++i) {
    std::string name = heads[i]->name;
    if (name.rfind("refs/heads/", 0) == 0) present.insert(name.substr(11));
  }
  git_remote_disconnect(remote.p);

  std::map<std::string, BranchTip> out;
  std::vector<std::string> specs;
  for (const auto& b : branches) {
    if (present.count(b)) {
      specs.push_back("+refs/heads/" + b + ":refs/heads/" + b);
    } else {
      out[b].error = "branch '" + b + "' not found on the remote " + Describe(url_);
    }
  }
  if (!specs.empty()) RETURN_IF_ERROR(Fetch(specs));
  for (const auto& b : branches) {
    if (!present.count(b)) continue;
    auto sha = ResolveLocked("refs/heads/" + b);
    if (sha.ok()) {
      out[b].commit = *sha;
    } else {
      out[b].error = sha.error();
    }
  }
  return out;
}

Result<std::string> Mirror::FetchAndResolve(const std::string& ref) {
  MutexLock lock(mutex_);
  RETURN_IF_ERROR(Fetch({"+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"}));
  return ResolveLocked(ref);
}

Result<std::string> Mirror::Resolve(const std::string& ref) {
  MutexLock lock(mutex_);
  return ResolveLocked(ref);
}

Result<std::string> Mirror::ResolveLocked(const std::string& ref) {
  Owned<git_object, git_object_free> obj;
  int rc = git_revparse_single(&obj.p, repo_, (ref + "^{commit}").c_str());
  if (rc != 0) {
    return Status::Error("'" + ref + "' is not a branch, tag or commit of " + Describe(url_));
  }
  char hex[GIT_OID_HEXSZ + 1];
  git_oid_tostr(hex, sizeof hex, git_object_id(obj.p));
  return std::string(hex);
}

std::string Mirror::Subject(const std::string& commit) {
  MutexLock lock(mutex_);
  git_oid oid;
  if (git_oid_fromstr(&oid, commit.c_str()) != 0) return "";
  Owned<git_commit, git_commit_free> c;
  if (git_commit_lookup(&c.p, repo_, &oid) != 0) return "";
  const char* s = git_commit_summary(c.p);
  return s ? s : "";
}

std::string Mirror::Author(const std::string& commit) {
  MutexLock lock(mutex_);
  git_oid oid;
  if (git_oid_fromstr(&oid, commit.c_str()) != 0) return "";
  Owned<git_commit, git_commit_free> c;
  if (git_commit_lookup(&c.p, repo_, &oid) != 0) return "";
  const git_signature* a = git_commit_author(c.p);
  return a && a->name ? a->name : "";
}

namespace {

struct ExportState {
  git_repository* repo;
  std::string dest;
  Status status;
};

Status WriteAll(int fd, const void* data, size_t size, const std::string& path) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = ::write(fd, p, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::Error("writing " + path + ": " + std::strerror(errno));
    }
    p += n;
    size -= static_cast<size_t>(n);
  }
  return Status::Ok();
}

int ExportEntry(const char* root, const git_tree_entry* entry, void* payload) {
  auto* st = static_cast<ExportState*>(payload);
  std::string name = git_tree_entry_name(entry);
  if (name.empty() || name == "." || name == ".." || name == ".git" ||
      name.find('/') != std::string::npos) {
    st->status = Status::Error("refusing tree entry '" + std::string(root) + name + "'");
    return -1;
  }
  std::string path = st->dest + "/" + root + name;
  git_filemode_t mode = git_tree_entry_filemode(entry);
  switch (git_tree_entry_type(entry)) {
    case GIT_OBJECT_TREE:
    case GIT_OBJECT_COMMIT:  // submodule: an empty directory
      if (::mkdir(path.c_str(), 0755) != 0) {
        st->status = Status::Error("creating " + path + ": " + std::strerror(errno));
        return -1;
      }
      return mode == GIT_FILEMODE_COMMIT ? 1 : 0;  // 1: do not descend
    case GIT_OBJECT_BLOB: {
      Owned<git_blob, git_blob_free> blob;
      int rc = git_blob_lookup(&blob.p, st->repo, git_tree_entry_id(entry));
      if (rc != 0) {
        st->status = Status::Error("reading " + std::string(root) + name + ": " + GitError(rc));
        return -1;
      }
      const void* data = git_blob_rawcontent(blob.p);
      size_t size = static_cast<size_t>(git_blob_rawsize(blob.p));
      if (mode == GIT_FILEMODE_LINK) {
        std::string target(static_cast<const char*>(data), size);
        if (::symlink(target.c_str(), path.c_str()) != 0) {
          st->status = Status::Error("creating symlink " + path + ": " + std::strerror(errno));
          return -1;
        }
        return 0;
      }
      int perm = mode == GIT_FILEMODE_BLOB_EXECUTABLE ? 0755 : 0644;
      int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, perm);
      if (fd < 0) {
        st->status = Status::Error("creating " + path + ": " + std::strerror(errno));
        return -1;
      }
      Status w = WriteAll(fd, data, size, path);
      ::close(fd);
      if (!w.ok()) {
        st->status = w;
        return -1;
      }
      return 0;
    }
    default:
      return 0;
  }
}

}  // namespace

Status Mirror::Export(const std::string& commit, const std::string& dest) {
  MutexLock lock(mutex_);
  git_oid oid;
  if (git_oid_fromstr(&oid, commit.c_str()) != 0) {
    return Status::Error("'" + commit + "' is not a commit id");
  }
  Owned<git_commit, git_commit_free> c;
  int rc = git_commit_lookup(&c.p, repo_, &oid);
  if (rc != 0) return Status::Error("commit " + commit + ": " + GitError(rc));
  Owned<git_tree, git_tree_free> tree;
  rc = git_commit_tree(&tree.p, c.p);
  if (rc != 0) return Status::Error("tree of " + commit + ": " + GitError(rc));
  if (::mkdir(dest.c_str(), 0755) != 0) {
    return Status::Error("creating " + dest + ": " + std::strerror(errno));
  }
  ExportState st{repo_, dest, Status::Ok()};
  rc = git_tree_walk(tree.p, GIT_TREEWALK_PRE, ExportEntry, &st);
  if (!st.status.ok()) return st.status;
  if (rc != 0) return Status::Error("exporting " + commit + ": " + GitError(rc));
  return Status::Ok();
}

}  // namespace gravity::pipeline
