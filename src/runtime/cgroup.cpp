#include "runtime/cgroup.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <sstream>
#include <thread>

#include "common/fs.h"
#include "common/strings.h"

namespace gravity::runtime {

namespace {

bool HasWord(const std::string& list, const std::string& word, char sep) {
  for (const auto& w : Split(list, sep)) {
    if (w == word) return true;
  }
  return false;
}

bool WriteValue(const std::string& path, const std::string& value) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  ssize_t n = ::write(fd, value.data(), value.size());
  ::close(fd);
  return n == static_cast<ssize_t>(value.size());
}

Status WriteLimit(const std::string& path, const std::string& value) {
  if (WriteValue(path, value)) return Status::Ok();
  return Status::Error("cannot write " + value + " to " + path + ": " + std::strerror(errno));
}

bool PathExists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

std::string Trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  return s;
}

// Own cgroup path per v1 controller ("memory" -> "/a/b"), and the v2 path ("" key).
std::map<std::string, std::string> OwnPaths(const std::string& self_cgroup) {
  std::map<std::string, std::string> out;
  std::istringstream in(self_cgroup);
  std::string line;
  while (std::getline(in, line)) {
    auto a = line.find(':');
    auto b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    std::string controllers = line.substr(a + 1, b - a - 1);
    std::string path = line.substr(b + 1);
    if (controllers.empty()) {
      out[""] = path;
      continue;
    }
    for (const auto& c : Split(controllers, ',')) out[c] = path;
  }
  return out;
}

}  // namespace

CgroupLayout ParseCgroupLayout(
    const std::string& mountinfo, const std::string& self_cgroup,
    const std::function<std::string(const std::string&)>& controllers_of) {
  CgroupLayout l;
  auto own = OwnPaths(self_cgroup);
  std::map<std::string, std::string> v1;  // controller -> mount point
  std::string v2;
  std::istringstream in(mountinfo);
  std::string line;
  while (std::getline(in, line)) {
    auto fields = Split(line, ' ');
    size_t dash = 0;
    while (dash < fields.size() && fields[dash] != "-") ++dash;
    if (fields.size() < 5 || dash + 1 >= fields.size()) continue;
    const std::string& fstype = fields[dash + 1];
    const std::string& mount_point = fields[4];
    if (fstype == "cgroup2") {
      std::string controllers = Trim(controllers_of(mount_point));
      if (HasWord(controllers, "memory", ' ') && HasWord(controllers, "pids", ' ')) {
        v2 = mount_point;
      }
    } else if (fstype == "cgroup") {
      std::string opts = dash + 3 < fields.size() ? fields[dash + 3] : "";
      for (const char* c : {"memory", "pids", "cpu"}) {
        if (HasWord(opts, c, ',')) v1[c] = mount_point;
      }
    }
  }
  if (!v2.empty()) {
    l.version = CgroupVersion::kV2;
    l.v2_root = v2;
    return l;
  }
  auto root_of = [&](const std::string& c) -> std::string {
    auto m = v1.find(c);
    if (m == v1.end()) return "";
    std::string p = own.count(c) ? own[c] : "/";
    if (p == "/") p = "";
    return m->second + p;
  };
  if (v1.count("memory") && v1.count("pids")) {
    l.version = CgroupVersion::kV1;
    l.memory_root = root_of("memory");
    l.pids_root = root_of("pids");
    l.cpu_root = root_of("cpu");
  }
  return l;
}

namespace {

CgroupLayout DetectLayout() {
  auto mountinfo = ReadFile("/proc/self/mountinfo");
  auto self = ReadFile("/proc/self/cgroup");
  if (!mountinfo.ok()) return CgroupLayout{};
  return ParseCgroupLayout(*mountinfo, self.ok() ? *self : "", [](const std::string& mount) {
    auto text = ReadFile(mount + "/cgroup.controllers");
    return text.ok() ? *text : std::string();
  });
}

}  // namespace

std::string CgroupLayout::Describe() const {
  switch (version) {
    case CgroupVersion::kV2:
      return "cgroup v2 (" + v2_root + ")";
    case CgroupVersion::kV1:
      return std::string("cgroup v1 (memory, pids") + (cpu_root.empty() ? "" : ", cpu") + ")";
    case CgroupVersion::kNone:
      break;
  }
  return "no cgroups (limits other than open_files and tmp are not enforced)";
}

const CgroupLayout& HostCgroups() {
  static const CgroupLayout layout = DetectLayout();
  return layout;
}

std::string GroupName(const std::string& owner, const std::string& name) {
  std::uint32_t h = 2166136261u;
  for (unsigned char c : owner) h = (h ^ c) * 16777619u;
  char buf[16];
  std::snprintf(buf, sizeof buf, "%08x", h);
  return std::string("gravity-") + buf + "/" + name;
}

Cgroup::Cgroup(const CgroupLayout& layout, std::string relative)
    : layout_(layout), relative_(std::move(relative)) {
  for (const auto& d : Dirs()) procs_files_.push_back(d + "/cgroup.procs");
}

std::vector<std::string> Cgroup::Dirs() const {
  std::vector<std::string> dirs;
  if (layout_.version == CgroupVersion::kV2) {
    dirs.push_back(layout_.v2_root + "/" + relative_);
  } else if (layout_.version == CgroupVersion::kV1) {
    for (const auto* root : {&layout_.memory_root, &layout_.pids_root, &layout_.cpu_root}) {
      if (!root->empty()) dirs.push_back(*root + "/" + relative_);
    }
  }
  return dirs;
}

std::string Cgroup::MainDir() const {
  auto dirs = Dirs();
  return dirs.empty() ? "" : dirs.front();
}

Status Cgroup::Create(const ResourceLimits& limits) {
  if (layout_.version == CgroupVersion::kNone) return Status::Ok();
  const std::string mem = std::to_string(limits.memory);
  const std::string pids = std::to_string(limits.pids);
  const long period = 100000;
  const long quota = std::max(1000L, std::lround(limits.cpu * period));
  if (layout_.version == CgroupVersion::kV2) {
    // Controllers must be enabled on every level above the new cgroup.
    std::string parent = layout_.v2_root + "/" + relative_.substr(0, relative_.find('/'));
    // One controller per write: the kernel refuses a whole line when one of its controllers
    // is unavailable, and a host without cpu must still get memory and pids.
    for (const char* c : {"+memory", "+pids", "+cpu"}) {
      (void)WriteValue(layout_.v2_root + "/cgroup.subtree_control", c);
    }
    RETURN_IF_ERROR(MakeDirs(parent, 0755));
    for (const char* c : {"+memory", "+pids", "+cpu"}) {
      (void)WriteValue(parent + "/cgroup.subtree_control", c);
    }
    std::string dir = MainDir();
    RETURN_IF_ERROR(MakeDirs(dir, 0755));
    RETURN_IF_ERROR(WriteLimit(dir + "/memory.max", mem));
    if (PathExists(dir + "/memory.swap.max")) (void)WriteValue(dir + "/memory.swap.max", "0");
    RETURN_IF_ERROR(WriteLimit(dir + "/pids.max", pids));
    if (PathExists(dir + "/cpu.max")) {
      RETURN_IF_ERROR(
          WriteLimit(dir + "/cpu.max", std::to_string(quota) + " " + std::to_string(period)));
    }
    return Status::Ok();
  }
  std::string m = layout_.memory_root + "/" + relative_;
  RETURN_IF_ERROR(MakeDirs(m, 0755));
  RETURN_IF_ERROR(WriteLimit(m + "/memory.limit_in_bytes", mem));
  // With swap accounting, memory + swap gets the same limit: no swapping past it.
  if (PathExists(m + "/memory.memsw.limit_in_bytes")) {
    (void)WriteValue(m + "/memory.memsw.limit_in_bytes", mem);
  }
  std::string p = layout_.pids_root + "/" + relative_;
  RETURN_IF_ERROR(MakeDirs(p, 0755));
  RETURN_IF_ERROR(WriteLimit(p + "/pids.max", pids));
  if (!layout_.cpu_root.empty()) {
    std::string c = layout_.cpu_root + "/" + relative_;
    RETURN_IF_ERROR(MakeDirs(c, 0755));
    RETURN_IF_ERROR(WriteLimit(c + "/cpu.cfs_period_us", std::to_string(period)));
    RETURN_IF_ERROR(WriteLimit(c + "/cpu.cfs_quota_us", std::to_string(quota)));
  }
  return Status::Ok();
}

bool Cgroup::JoinSelf() const {
  bool ok = true;
  for (const auto& f : procs_files_) {
    int fd = ::open(f.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
      ok = false;
      continue;
    }
    if (::write(fd, "0", 1) != 1) ok = false;
    ::close(fd);
  }
  return ok;
}

std::vector<pid_t> Cgroup::Pids() const {
  std::vector<pid_t> out;
  for (const auto& d : Dirs()) {
    auto text = ReadFile(d + "/cgroup.procs");
    if (!text.ok()) continue;
    std::istringstream in(*text);
    long pid;
    while (in >> pid) {
      if (std::find(out.begin(), out.end(), pid) == out.end()) out.push_back(pid);
    }
  }
  return out;
}

std::int64_t Cgroup::OomKills() const {
  std::string file = layout_.version == CgroupVersion::kV2 ? MainDir() + "/memory.events"
                                                           : MainDir() + "/memory.oom_control";
  if (layout_.version == CgroupVersion::kNone) return 0;
  auto text = ReadFile(file);
  if (!text.ok()) return 0;
  std::istringstream in(*text);
  std::string key;
  long long value = 0;
  while (in >> key >> value) {
    if (key == "oom_kill") return value;
  }
  return 0;
}

bool Cgroup::Exists() const {
  auto dirs = Dirs();
  return !dirs.empty() && PathExists(dirs.front());
}

bool IsGroupName(const std::string& relative) {
  const std::string prefix = "gravity-";
  if (relative.size() < prefix.size() + 10 || relative.compare(0, prefix.size(), prefix) != 0) {
    return false;
  }
  for (size_t i = prefix.size(); i < prefix.size() + 8; ++i) {
    if (!std::isxdigit(static_cast<unsigned char>(relative[i]))) return false;
  }
  if (relative[prefix.size() + 8] != '/') return false;
  std::string name = relative.substr(prefix.size() + 9);
  if (name.empty() || name.size() > 255 || name == "." || name == "..") return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') {
      return false;
    }
  }
  return true;
}

bool Cgroup::Remove() const {
  // Removing kills what is inside: only ever a group of Gravity's own naming (the name may
  // come from a process's command line, see ProcessLauncher::FindOwned).
  if (!IsGroupName(relative_)) return false;
  auto dirs = Dirs();
  if (dirs.empty()) return true;
  using Clock = std::chrono::steady_clock;
  // Bounded: a process in uninterruptible sleep may take a moment to die.
  auto deadline = Clock::now() + std::chrono::seconds(5);
  for (;;) {
    auto pids = Pids();
    if (pids.empty()) break;
    for (pid_t p : pids) ::kill(p, SIGKILL);
    if (Clock::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  bool gone = true;
  for (const auto& d : dirs) {
    if (::rmdir(d.c_str()) != 0 && errno != ENOENT) gone = false;
    // The per-owner parent goes when it is empty (EBUSY otherwise: fine).
    (void)::rmdir(d.substr(0, d.rfind('/')).c_str());
  }
  return gone;
}

}  // namespace gravity::runtime
