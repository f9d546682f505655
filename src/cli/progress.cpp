#include "cli/progress.h"

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>

#include "common/net.h"

namespace gravity::cli {

namespace {

using nlohmann::json;

std::string Str(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  return it->dump();
}

// Remembers what was already printed so each change is printed once.
class ProgressPrinter {
 public:
  explicit ProgressPrinter(DaemonClient& client) : client_(client) {}

  // Fetches the runs and prints what changed. Returns the runs (empty on error).
  json Poll() {
    auto r = client_.Request("GET", "/v1/runs?limit=50");
    if (!r.ok() || r->status != 200) {
      if (!api_down_) {
        std::printf("daemon API unreachable: %s\n",
                    r.ok() ? ("HTTP " + std::to_string(r->status)).c_str() : r.error().c_str());
        api_down_ = true;
      }
      return json::array();
    }
    api_down_ = false;
    json body = json::parse(r->body, nullptr, false);
    if (body.is_discarded()) return json::array();
    json runs = body.is_array() ? body : body.value("runs", json::array());
    // Oldest first so the story reads top to bottom.
    for (auto it = runs.rbegin(); it != runs.rend(); ++it) PrintRun(*it);
    std::fflush(stdout);
    return runs;
  }

 private:
  void PrintRun(const json& run) {
    std::string id = Str(run, "id");
    std::string commit = Str(run, "commit").substr(0, 10);
    std::string who = "run " + id + " " + Str(run, "app") + "@" + Str(run, "branch") + " " + commit;
    if (json stages = run.value("stages", json::array()); stages.is_array()) {
      for (const auto& s : stages) {
        std::string key = id + "/" + Str(s, "name") + "/" + Str(s, "status");
        if (!printed_.insert(key).second) continue;
        std::string status = Str(s, "status");
        if (status == "running") {
          std::printf("%s: %s …\n", who.c_str(), Str(s, "name").c_str());
        } else if (status == "succeeded" || status == "failed") {
          std::string ms = Str(s, "duration_ms");
          std::printf("%s: %s %s%s\n", who.c_str(), Str(s, "name").c_str(), status.c_str(),
                      ms.empty() ? "" : (" in " + ms + "ms").c_str());
        }
      }
    }
    std::string status = Str(run, "status");
    std::string stage = Str(run, "stage");
    if (status == "running" && !stage.empty() && printed_.insert(id + "/stage/" + stage).second) {
      std::printf("%s: %s …\n", who.c_str(), stage.c_str());
    }
    std::string key = id + "/" + status;
    if (printed_.insert(key).second) {
      std::string took = Str(run, "duration_ms");
      took = (took.empty() || took == "0") ? "" : " in " + took + "ms";
      if (status == "failed") {
        std::printf("%s: FAILED at %s%s: %s\n", who.c_str(), stage.c_str(), took.c_str(),
                    Str(run, "error").c_str());
      } else if (status == "succeeded") {
        std::printf("%s: succeeded%s\n", who.c_str(), took.c_str());
      } else if (status != "running" && !status.empty()) {
        std::printf("%s: %s\n", who.c_str(), status.c_str());
      }
    }
  }

  DaemonClient& client_;
  std::set<std::string> printed_;
  bool api_down_ = false;
};

}  // namespace

void FollowProgress(DaemonClient& client, const config::StackSpec& stack,
                    const std::atomic<bool>& stop, const std::function<bool()>& daemon_alive) {
  (void)stack;
  ProgressPrinter printer(client);
  std::printf("following the stack; Ctrl-C stops it\n");
  while (!stop) {
    if (!daemon_alive()) {
      std::printf("the daemon has stopped; see its log in %s\n", stack.state_dir.c_str());
      return;
    }
    printer.Poll();
    for (int i = 0; i < 5 && !stop; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(60));
  }
}

int WaitForFirstDeploys(DaemonClient& client, const config::StackSpec& stack,
                        const std::function<bool()>& daemon_alive) {
  ProgressPrinter printer(client);
  // Every environment that follows a branch must end up live or failed.
  std::map<std::string, std::string> pending;  // "app/env" -> branch
  for (const auto& app : stack.apps) {
    for (const auto& env : app.environments) {
      if (!env.branch.empty()) pending[app.name + "/" + env.name] = env.branch;
    }
  }
  int failures = 0;
  const std::int64_t started_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count() -
      1000;
  while (!pending.empty()) {
    if (!daemon_alive()) {
      std::printf("the daemon has stopped before every first deploy finished; see %s/daemon.log\n",
                  stack.state_dir.c_str());
      return 1;
    }
    json runs = printer.Poll();
    auto status = client.Request("GET", "/v1/status");
    json st = status.ok() && status->status == 200 ? json::parse(status->body, nullptr, false)
                                                  : json();
    for (auto it = pending.begin(); it != pending.end();) {
      auto slash = it->first.find('/');
      std::string app = it->first.substr(0, slash), env = it->first.substr(slash + 1);
      bool live = false;
      bool recorded_live = false;
      if (st.is_object()) {
        for (const auto& a : st.value("apps", json::array())) {
          if (Str(a, "name") != app) continue;
          for (const auto& e : a.value("environments", json::array())) {
            if (Str(e, "name") != env || Str(e, "live_release").empty()) continue;
            recorded_live = true;
            // Live means serving: a recorded live release whose instances are restored
            // (e.g. after `gravity down`) is not live until one of them is healthy.
            int serving = 0, total = 0;
            for (const auto& i : e.value("instances", json::array())) {
              if (Str(i, "role") != "live") continue;
              ++total;
              if (Str(i, "state") == "running" && Str(i, "health") == "healthy" &&
                  LoopbackPortOpen(i.value("port", 0))) {
                ++serving;
              }
            }
            live = total > 0 && serving == total;
          }
        }
      }
      // Failed: the newest run of the branch failed and nothing is left to wait for — it
      // ran during this `up`, or the environment has no live release to restore.
      bool failed = false;
      for (const auto& r : runs) {  // newest first
        if (Str(r, "app") == app && Str(r, "branch") == it->second) {
          bool this_up = r.value("created_ms", std::int64_t{0}) >= started_ms;
          failed = Str(r, "status") == "failed" && (this_up || !recorded_live);
          break;
        }
      }
      if (live || failed) {
        std::printf("%s: %s\n", it->first.c_str(), live ? "live" : "first deploy failed");
        if (!live) ++failures;
        it = pending.erase(it);
      } else {
        ++it;
      }
    }
    std::fflush(stdout);
    if (!pending.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  return failures == 0 ? 0 : 1;
}

}  // namespace gravity::cli
