#include "runtime/supervisor.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "common/commit.h"
#include "common/fs.h"
#include "runtime/logs.h"

namespace gravity::runtime {

namespace {

using json = nlohmann::json;
using std::chrono::milliseconds;

long long WallMs(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<milliseconds>(t.time_since_epoch()).count();
}

std::optional<InstanceState> StateFromName(const std::string& s) {
  if (s == "running") return InstanceState::kRunning;
  if (s == "backoff") return InstanceState::kBackoff;
  if (s == "failed") return InstanceState::kFailed;
  if (s == "stopping") return InstanceState::kStopping;
  return std::nullopt;
}

// File-name-safe form of a name (app and environment names are validated by config, but
// the log path must never escape the logs folder whatever they are).
std::string Safe(const std::string& s) {
  std::string out;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.';
    out += ok ? c : '_';
  }
  if (out.empty() || out == "." || out == "..") out = "_" + out;
  return out;
}

}  // namespace

const char* InstanceStateName(InstanceState s) {
  switch (s) {
    case InstanceState::kRunning:
      return "running";
    case InstanceState::kBackoff:
      return "backoff";
    case InstanceState::kFailed:
      return "failed";
    case InstanceState::kStopping:
      return "stopping";
  }
  return "unknown";
}

Supervisor::Supervisor(SupervisorOptions options, Launcher& launcher, Clock& clock)
    : options_(std::move(options)),
      launcher_(launcher),
      clock_(clock),
      records_path_(options_.state_dir + "/runtime/instances.json"),
      ports_(options_.port_first, options_.port_last) {}

Supervisor::~Supervisor() { StopThread(); }

void Supervisor::SetListener(std::function<void(const InstanceEvent&)> listener) {
  listener_ = std::move(listener);
}

std::string Supervisor::LogPath(const InstanceSpec& spec, const std::string& id) const {
  return options_.state_dir + "/logs/" + Safe(spec.app) + "/" + Safe(spec.environment) + "/" +
         Safe(spec.release) + "/" + Safe(id) + ".log";
}

LaunchSpec Supervisor::LaunchSpecOf(const InstanceInfo& info) const {
  LaunchSpec l;
  l.id = info.id;
  l.app = info.spec.app;
  l.environment = info.spec.environment;
  l.release = info.spec.release;
  l.release_dir = info.spec.release_dir;
  l.command = info.spec.command;
  l.env = info.spec.env;
  l.port = info.port;
  l.log_path = info.log_path;
  l.sandbox = info.spec.sandbox;
  l.limits = info.spec.limits;
  l.data = info.spec.data;
  return l;
}

void Supervisor::Emit(const std::vector<InstanceEvent>& events) {
  for (const auto& e : events) {
    static const char* kNames[] = {"started", "crashed", "restarted",     "failed",
                                   "stopped", "adopted", "orphan stopped"};
    spdlog::info("instance {} {}{}{}", e.id, kNames[e.kind], e.detail.empty() ? "" : ": ",
                 e.detail);
    if (listener_) listener_(e);
  }
}

Status Supervisor::PersistLocked() {
  json list = json::array();
  for (const auto& [id, e] : entries_) {
    const InstanceInfo& i = e.info;
    list.push_back({{"id", i.id},
                    {"app", i.spec.app},
                    {"environment", i.spec.environment},
                    {"release", i.spec.release},
                    {"release_dir", i.spec.release_dir},
                    {"command", i.spec.command},
                    {"env", i.spec.env},
                    {"port", i.port},
                    {"log", i.log_path},
                    {"pid", i.process.pid},
                    {"start_time", i.process.start_time},
                    {"cgroup", i.process.cgroup},
                    {"sandbox", i.spec.sandbox == SandboxMode::kOff ? "off" : "strict"},
                    {"limits",
                     {{"memory", i.spec.limits.memory},
                      {"cpu", i.spec.limits.cpu},
                      {"pids", i.spec.limits.pids},
                      {"open_files", i.spec.limits.open_files},
                      {"tmp", i.spec.limits.tmp}}},
                    {"data", i.spec.data},
                    {"state", InstanceStateName(i.state)},
                    {"restarts", i.restarts},
                    {"last_exit", i.last_exit},
                    {"started_at_ms", WallMs(i.started_at)}});
  }
  json doc = {{"version", 1}, {"next_seq", next_seq_}, {"instances", list}};
  RETURN_IF_ERROR(MakeDirs(options_.state_dir + "/runtime", 0700));
  Status st = WriteFileAtomic(records_path_, doc.dump(1) + "\n", 0600);
  if (!st.ok()) spdlog::error("saving instance records: {}", st.message());
  return st;
}

namespace {

// One instance record of the file (as PersistLocked writes it); throws json::exception
// when a field it needs is missing or of the wrong type.
InstanceInfo InfoFromRecord(const json& r) {
  InstanceInfo i;
  i.id = r.at("id").get<std::string>();
  i.spec.app = r.at("app").get<std::string>();
  i.spec.environment = r.at("environment").get<std::string>();
  i.spec.release = r.at("release").get<std::string>();
  i.spec.release_dir = r.at("release_dir").get<std::string>();
  i.spec.command = r.at("command").get<std::string>();
  i.spec.env = r.value("env", std::map<std::string, std::string>{});
  i.port = r.at("port").get<int>();
  i.log_path = r.at("log").get<std::string>();
  i.process.pid = r.at("pid").get<pid_t>();
  i.process.start_time = r.at("start_time").get<std::uint64_t>();
  i.process.cgroup = r.value("cgroup", "");
  i.spec.sandbox =
      r.value("sandbox", "strict") == "off" ? SandboxMode::kOff : SandboxMode::kStrict;
  if (r.contains("limits") && r["limits"].is_object()) {
    const auto& l = r["limits"];
    i.spec.limits.memory = l.value("memory", i.spec.limits.memory);
    i.spec.limits.cpu = l.value("cpu", i.spec.limits.cpu);
    i.spec.limits.pids = l.value("pids", i.spec.limits.pids);
    i.spec.limits.open_files = l.value("open_files", i.spec.limits.open_files);
    i.spec.limits.tmp = l.value("tmp", i.spec.limits.tmp);
  }
  i.spec.data = r.value("data", std::vector<std::string>{});
  i.state = StateFromName(r.value("state", "running")).value_or(InstanceState::kRunning);
  i.restarts = r.value("restarts", 0);
  i.last_exit = r.value("last_exit", "");
  i.started_at =
      std::chrono::system_clock::time_point(milliseconds(r.value("started_at_ms", 0LL)));
  return i;
}

}  // namespace

Status Supervisor::Recover() {
  if (options_.port_first < 1 || options_.port_last > 65535 ||
      options_.port_first > options_.port_last) {
    return Status::Error("instance port range " + std::to_string(options_.port_first) + "-" +
                         std::to_string(options_.port_last) + " is not a valid range");
  }
  std::vector<InstanceEvent> events;
  std::vector<ProcessRef> known;
  {
    MutexLock lock(mutex_);
    auto text = ReadFile(records_path_);
    if (text.ok()) {
      json doc = json::parse(*text, nullptr, /*allow_exceptions=*/false);
      if (doc.is_discarded() || !doc.is_object() || !doc.contains("instances")) {
        return Status::Error(records_path_ + ": not a valid instance record file");
      }
      next_seq_ = doc.value("next_seq", 1L);
      for (const auto& r : doc["instances"]) {
        try {
          Entry e;
          e.info = InfoFromRecord(r);
          InstanceInfo& i = e.info;
          e.process_started = clock_.Now();
          ports_.Reserve(i.port);
          if (i.state != InstanceState::kFailed && launcher_.Alive(i.process)) {
            i.state = InstanceState::kRunning;
            known.push_back(i.process);
            events.push_back(
                {InstanceEvent::kAdopted, i.id,
                 "pid " + std::to_string(i.process.pid) + ", port " + std::to_string(i.port) +
                     (i.process.cgroup.empty() ? "" : ", cgroup " + i.process.cgroup)});
          } else if (i.state == InstanceState::kStopping) {
            // It was being stopped when the daemon ended: finish that by forgetting it.
            ports_.Release(i.port);
            continue;
          } else if (i.state != InstanceState::kFailed) {
            std::string how = LastExitFromLog(i.log_path);
            i.last_exit = how.empty() ? "ended while the daemon was down" : how;
            i.state = InstanceState::kBackoff;
            e.restart_at = clock_.Now();
            events.push_back({InstanceEvent::kCrashed, i.id, i.last_exit});
          }
          entries_[i.id] = std::move(e);
        } catch (const json::exception& ex) {
          spdlog::warn("{}: skipping a malformed instance record: {}", records_path_, ex.what());
        }
      }
    }
    PersistLocked();
  }
  // Any instance process of ours that no record names was started by a daemon that died
  // before recording it: stop it.
  for (const ProcessRef& ref : launcher_.FindOwned(OwnerTag())) {
    bool recorded = std::any_of(known.begin(), known.end(), [&](const ProcessRef& k) {
      return k.pid == ref.pid && k.start_time == ref.start_time;
    });
    if (recorded) continue;
    launcher_.Stop(ref, options_.stop_grace);
    events.push_back({InstanceEvent::kOrphanStopped, "pid " + std::to_string(ref.pid), ""});
  }
  Emit(events);
  return Status::Ok();
}

std::string Supervisor::OwnerTag() const { return options_.state_dir; }

Result<InstanceInfo> Supervisor::Start(const InstanceSpec& spec) {
  ASSIGN_OR_RETURN(int port, ports_.Allocate());
  InstanceInfo info;
  info.spec = spec;
  info.port = port;
  {
    MutexLock lock(mutex_);
    std::string short_release = ShortCommit(spec.release);
    info.id = Safe(spec.app) + "-" + Safe(spec.environment) + "-" + Safe(short_release) + "-" +
              std::to_string(next_seq_++);
  }
  info.log_path = LogPath(spec, info.id);
  auto ref = launcher_.Launch(LaunchSpecOf(info));
  if (!ref.ok()) {
    ports_.Release(port);
    return ref.status().Prefixed("starting instance of " + spec.app + "/" + spec.environment);
  }
  info.process = *ref;
  info.started_at = clock_.WallNow();
  info.state = InstanceState::kRunning;
  {
    MutexLock lock(mutex_);
    Entry e;
    e.info = info;
    e.process_started = clock_.Now();
    entries_[info.id] = e;
    PersistLocked();
  }
  Emit({{InstanceEvent::kStarted, info.id,
         "pid " + std::to_string(info.process.pid) + ", port " + std::to_string(port)}});
  return info;
}

void Supervisor::Stop(const std::vector<std::string>& ids) {
  std::vector<InstanceInfo> to_stop;
  {
    MutexLock lock(mutex_);
    for (const auto& id : ids) {
      auto it = entries_.find(id);
      if (it == entries_.end() || it->second.info.state == InstanceState::kStopping) continue;
      it->second.info.state = InstanceState::kStopping;
      to_stop.push_back(it->second.info);
    }
    if (!to_stop.empty()) PersistLocked();
  }
  if (to_stop.empty()) return;
  std::vector<std::thread> threads;
  for (size_t k = 1; k < to_stop.size(); ++k) {
    threads.emplace_back(
        [this, ref = to_stop[k].process] { launcher_.Stop(ref, options_.stop_grace); });
  }
  launcher_.Stop(to_stop[0].process, options_.stop_grace);
  for (auto& t : threads) t.join();
  std::vector<InstanceEvent> events;
  {
    MutexLock lock(mutex_);
    for (const auto& i : to_stop) {
      entries_.erase(i.id);
      ports_.Release(i.port);
      events.push_back({InstanceEvent::kStopped, i.id, ""});
    }
    PersistLocked();
  }
  Emit(events);
}

void Supervisor::StopAll(const std::string& app, const std::string& environment) {
  std::vector<std::string> ids;
  {
    MutexLock lock(mutex_);
    for (const auto& [id, e] : entries_) {
      if (e.info.spec.app == app &&
          (environment.empty() || e.info.spec.environment == environment)) {
        ids.push_back(id);
      }
    }
  }
  Stop(ids);
}

std::vector<InstanceInfo> Supervisor::List() const {
  MutexLock lock(mutex_);
  std::vector<InstanceInfo> out;
  for (const auto& [id, e] : entries_) out.push_back(e.info);
  return out;
}

std::optional<InstanceInfo> Supervisor::Get(const std::string& id) const {
  MutexLock lock(mutex_);
  auto it = entries_.find(id);
  if (it == entries_.end()) return std::nullopt;
  return it->second.info;
}

std::string Supervisor::ExitOf(const InstanceInfo& info) {
  // The wrapper's last line says it best (it names a limit that killed the instance); the
  // wrapper's own exit status when it left none (killed itself).
  std::string reaped = launcher_.ExitDescription(info.process);
  std::string how = LastExitFromLog(info.log_path);
  if (how.empty()) how = reaped;
  return how.empty() ? "ended" : how;
}

// Counts a crash of `e`'s process: failed past crash_loop_limit crashes within
// crash_loop_window, else in backoff (doubling from backoff_initial up to backoff_max).
InstanceEvent Supervisor::CrashedLocked(Entry& e, const std::string& id, const std::string& how,
                                        Clock::TimePoint now) {
  e.info.last_exit = how;
  // A process that ran for a full window before crashing starts a fresh backoff.
  if (now - e.process_started >= options_.crash_loop_window) e.consecutive_crashes = 0;
  ++e.consecutive_crashes;
  e.crashes.push_back(now);
  while (!e.crashes.empty() && now - e.crashes.front() > options_.crash_loop_window) {
    e.crashes.pop_front();
  }
  if (static_cast<int>(e.crashes.size()) >= options_.crash_loop_limit) {
    e.info.state = InstanceState::kFailed;
    return {InstanceEvent::kFailed, id,
            "crashed " + std::to_string(e.crashes.size()) + " times within " +
                std::to_string(options_.crash_loop_window.count() / 1000) + "s; last: " + how};
  }
  milliseconds delay = options_.backoff_initial;
  for (int k = 1; k < e.consecutive_crashes && delay < options_.backoff_max; ++k) delay *= 2;
  delay = std::min(delay, options_.backoff_max);
  e.info.state = InstanceState::kBackoff;
  e.restart_at = now + delay;
  return {InstanceEvent::kCrashed, id, how + "; restarting in " + std::to_string(delay.count()) + "ms"};
}

// Starts a backed-off instance again (outside the lock), unless it was stopped meanwhile.
void Supervisor::Restart(const InstanceInfo& i, std::vector<InstanceEvent>* events) {
  auto ref = launcher_.Launch(LaunchSpecOf(i));
  MutexLock lock(mutex_);
  auto it = entries_.find(i.id);
  if (it == entries_.end() || it->second.info.state != InstanceState::kBackoff) {
    if (ref.ok()) launcher_.Stop(*ref, options_.stop_grace);  // stopped meanwhile
    return;
  }
  Entry& e = it->second;
  if (!ref.ok()) {
    e.info.last_exit = ref.error();
    e.crashes.push_back(clock_.Now());
    ++e.consecutive_crashes;
    milliseconds delay = std::min(options_.backoff_max, options_.backoff_initial * 4);
    e.restart_at = clock_.Now() + delay;
    if (static_cast<int>(e.crashes.size()) >= options_.crash_loop_limit) {
      e.info.state = InstanceState::kFailed;
      events->push_back({InstanceEvent::kFailed, i.id, ref.error()});
    }
  } else {
    e.info.process = *ref;
    e.info.state = InstanceState::kRunning;
    e.info.started_at = clock_.WallNow();
    e.process_started = clock_.Now();
    ++e.info.restarts;
    events->push_back({InstanceEvent::kRestarted, i.id,
                       "pid " + std::to_string(ref->pid) + " (restart " +
                           std::to_string(e.info.restarts) + ")"});
  }
  PersistLocked();
}

void Supervisor::Tick() {
  // 1. Which running processes are gone? (system calls outside the lock)
  std::vector<InstanceInfo> running;
  {
    MutexLock lock(mutex_);
    for (const auto& [id, e] : entries_) {
      if (e.info.state == InstanceState::kRunning) running.push_back(e.info);
    }
  }
  std::vector<std::pair<std::string, std::string>> ended;  // id, how
  for (const auto& i : running) {
    if (!launcher_.Alive(i.process)) ended.emplace_back(i.id, ExitOf(i));
  }
  std::vector<InstanceEvent> events;
  std::vector<InstanceInfo> to_restart;
  bool changed = false;
  {
    MutexLock lock(mutex_);
    auto now = clock_.Now();
    for (const auto& [id, how] : ended) {
      auto it = entries_.find(id);
      if (it == entries_.end() || it->second.info.state != InstanceState::kRunning) continue;
      events.push_back(CrashedLocked(it->second, id, how, now));
      changed = true;
    }
    for (auto& [id, e] : entries_) {
      if (e.info.state == InstanceState::kBackoff && now >= e.restart_at) {
        to_restart.push_back(e.info);
      }
    }
    if (changed) PersistLocked();
  }
  // 2. Restart those whose backoff has passed, on the same port (the proxy's target).
  for (const auto& i : to_restart) Restart(i, &events);
  Emit(events);
}

void Supervisor::StartThread() {
  MutexLock lock(thread_mutex_);
  if (thread_.joinable()) return;
  thread_stop_ = false;
  thread_ = std::thread([this] { TickLoop(); });
}

void Supervisor::TickLoop() {
  for (;;) {
    {
      MutexLock lock(thread_mutex_);
      if (thread_stop_) return;
    }
    Tick();
    MutexLock lock(thread_mutex_);
    if (!thread_stop_) thread_mutex_.WaitFor(thread_cv_, options_.tick_interval);
  }
}

void Supervisor::StopThread() {
  {
    MutexLock lock(thread_mutex_);
    thread_stop_ = true;
  }
  thread_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace gravity::runtime
