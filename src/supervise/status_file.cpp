#include "supervise/status_file.h"

#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "common/fs.h"

namespace gravity::supervise {

using nlohmann::json;

Status WriteStatusFile(const std::string& path, const SupervisorStatus& status) {
  json doc = {{"pid", status.pid}, {"started_ms", status.started_ms}};
  json procs = json::object();
  for (const auto& [name, p] : status.processes) {
    procs[name] = {{"state", p.state},         {"pid", p.pid},
                   {"started_ms", p.started_ms}, {"restarts", p.restarts},
                   {"last_exit", p.last_exit},   {"last_exit_ms", p.last_exit_ms},
                   {"binary", p.binary},         {"successor_pid", p.successor_pid}};
  }
  doc["processes"] = procs;
  return WriteFileAtomic(path, doc.dump(2) + "\n");
}

Result<SupervisorStatus> ReadStatusFile(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  json doc = json::parse(text, nullptr, false);
  if (!doc.is_object()) return Status::InvalidArgument(path + ": not a supervisor status file");
  SupervisorStatus s;
  s.pid = doc.value("pid", 0);
  s.started_ms = doc.value("started_ms", std::int64_t{0});
  const json procs = doc.value("processes", json::object());
  for (const auto& [name, p] : procs.items()) {
    ProcessStatus ps;
    ps.state = p.value("state", "");
    ps.pid = p.value("pid", 0);
    ps.started_ms = p.value("started_ms", std::int64_t{0});
    ps.restarts = p.value("restarts", 0);
    ps.last_exit = p.value("last_exit", "");
    ps.last_exit_ms = p.value("last_exit_ms", std::int64_t{0});
    ps.binary = p.value("binary", "");
    ps.successor_pid = p.value("successor_pid", 0);
    s.processes[name] = ps;
  }
  return s;
}

std::string BinaryId(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return "";
  return path + " dev=" + std::to_string(st.st_dev) + " ino=" + std::to_string(st.st_ino) +
         " size=" + std::to_string(st.st_size) + " mtime=" + std::to_string(st.st_mtim.tv_sec) +
         "." + std::to_string(st.st_mtim.tv_nsec);
}

}  // namespace gravity::supervise
