// The canary strategy of Deployer (declared in deployer.h; the rest of a deployment —
// starting instances, recording the switch, warm instances — is shared with red/black in
// deployer.cpp). Rules in docs/deploy.md, "Canary".
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/duration.h"
#include "deploy/canary_judge.h"
#include "deploy/deployer.h"
#include "runtime/logs.h"

namespace gravity::deploy {

namespace {

using json = nlohmann::json;
using std::chrono::milliseconds;

std::string Short(const std::string& commit) { return commit.substr(0, 7); }

// After a failing 5xx verdict: how long the supervisor is given to see a canary instance's
// exit behind those errors (kCrashGracePolls x kCrashGracePoll).
constexpr int kCrashGracePolls = 10;
constexpr milliseconds kCrashGracePoll{50};

}  // namespace

void Deployer::Sleep(milliseconds d) {
  if (options_.sleep) {
    options_.sleep(d);
  } else {
    std::this_thread::sleep_for(d);
  }
}

std::string Deployer::CrashedCanaryInstance(const std::vector<runtime::InstanceInfo>& started) {
  supervisor_.Tick();  // notice exits now rather than on the supervisor's next tick
  for (const auto& i : started) {
    auto cur = supervisor_.Get(i.id);
    bool crashed = !cur || cur->state != runtime::InstanceState::kRunning ||
                   cur->restarts > i.restarts || cur->process.pid != i.process.pid;
    if (!crashed) continue;
    std::string failure = "canary instance " + i.address() + " (" + i.id + ") crashed";
    std::string exit = cur ? cur->last_exit : "";
    if (!exit.empty()) failure += ": process " + exit;
    auto lines = runtime::TailLines(i.log_path, static_cast<size_t>(options_.failure_log_lines));
    if (lines.ok() && !lines->empty()) {
      failure += "\n    last log lines:";
      for (const auto& l : *lines) failure += "\n      " + l;
    }
    return failure;
  }
  return "";
}

void Deployer::WaitDrained(const std::string& service, const std::vector<std::string>& targets,
                           milliseconds timeout) {
  // The proxy lists dropped targets as draining until every worker has left them and their
  // requests in flight have finished (or its drain timeout passed).
  const auto end = clock_.Now() + timeout + std::chrono::seconds(2);
  for (;;) {
    auto svc = proxy_.Service(service);
    if (!svc.ok() || !*svc) return;
    bool draining = false;
    for (const auto& t : targets) draining |= (*svc)->draining_in_flight.count(t) > 0;
    if (!draining || clock_.Now() >= end) return;
    Sleep(milliseconds(20));
  }
}

Result<ProxyDeployOutcome> Deployer::CanaryLocked(const std::string& where, const ProxyRoute& route,
                                                  const config::EnvironmentSpec& env,
                                                  DeploymentRecord& d,
                                                  const std::vector<runtime::InstanceInfo>& started,
                                                  std::string* judged) {
  const config::CanarySpec& spec = env.canary;
  const std::string release = Short(d.commit);
  json c = {{"phase", "gate"},
            {"weight", spec.weight},
            {"duration_ms", spec.duration.count()},
            {"max_error_rate", spec.max_error_rate},
            {"min_requests", spec.min_requests},
            {"requests", 0},
            {"errors_5xx", 0},
            {"error_rate", 0.0},
            {"main_requests", 0},
            {"main_errors_5xx", 0}};
  auto save = [&](const std::string& step) {
    d.step = step;
    d.canary = c.dump();
    (void)records_.UpdateDeployment(d);
  };
  save("canary_gate");

  // 1. The health gate into the canary pool (main untouched whatever happens).
  auto gate = proxy_.DeployCanary(route, spec.weight);
  if (!gate.ok()) return gate.status();
  if (!gate->switched) {
    c["phase"] = "dropped";
    c["verdict"] = "did not become healthy";
    d.canary = c.dump();
    return *gate;
  }
  ProxyDeployOutcome promoted = *gate;

  // 2. Observe. Counters are cumulative per pool since the proxy started: judge deltas
  // from what they were once the canary pool was in place.
  auto first = proxy_.Service(route.service);
  if (!first.ok()) return first.status();
  if (!*first || !(*first)->has_canary) {
    return Status::Error("the proxy lost the canary pool of " + route.service +
                         " right after installing it");
  }
  PoolRequests base_canary = (*first)->canary_requests;
  PoolRequests base_main = (*first)->main_requests;
  const auto t_start = clock_.Now();
  const auto deadline = t_start + spec.duration;
  c["phase"] = "observing";
  c["started_at_ms"] = NowMs();
  c["ends_at_ms"] = NowMs() + spec.duration.count();
  save("canary");
  Progress(where + ": canary " + release + " gets " + std::to_string(spec.weight) +
           "% of clients for " + FormatDuration(spec.duration));

  std::string failure;    // set when the canary is dropped
  std::string unhealthy;  // a canary target the proxy found unhealthy at the last check
  CanaryCounts counts;
  for (;;) {
    auto svc = proxy_.Service(route.service);
    if (!svc.ok()) return svc.status();
    if (!*svc || !(*svc)->has_canary) {
      failure = "the canary pool was removed from the proxy while it was observed";
      break;
    }
    const ProxyService& now = **svc;
    // A restarted proxy counts from 0 again: count from there.
    if (now.canary_requests.total < base_canary.total ||
        now.canary_requests.errors_5xx < base_canary.errors_5xx) {
      base_canary = {};
    }
    if (now.main_requests.total < base_main.total ||
        now.main_requests.errors_5xx < base_main.errors_5xx) {
      base_main = {};
    }
    counts.requests = now.canary_requests.total - base_canary.total;
    counts.errors_5xx = now.canary_requests.errors_5xx - base_canary.errors_5xx;
    counts.main_requests = now.main_requests.total - base_main.total;
    counts.main_errors_5xx = now.main_requests.errors_5xx - base_main.errors_5xx;
    c["requests"] = counts.requests;
    c["errors_5xx"] = counts.errors_5xx;
    c["error_rate"] = counts.requests ? static_cast<double>(counts.errors_5xx) /
                                            static_cast<double>(counts.requests)
                                      : 0.0;
    c["main_requests"] = counts.main_requests;
    c["main_errors_5xx"] = counts.main_errors_5xx;

    // An instance that crashed (or is being restarted) fails the canary at once.
    failure = CrashedCanaryInstance(started);
    if (!failure.empty()) break;
    // An unhealthy target fails it at the next check (by then the supervisor has usually
    // seen a crash behind it, which is the more precise reason).
    if (!unhealthy.empty()) {
      failure = unhealthy;
      break;
    }
    for (const auto& t : now.canary) {
      if (t.state == "unhealthy") {
        unhealthy = "canary target " + t.address + " became unhealthy: " +
                    (t.last_error.empty() ? "failed health checks" : t.last_error);
        break;
      }
    }

    const bool window_over = clock_.Now() >= deadline;
    CanaryVerdict verdict = JudgeCanary(spec, counts, window_over);
    if (verdict.kind == CanaryVerdict::kFail) {
      // A canary's 5xx are often its instance dying: the proxy sees the connection close
      // a moment before the supervisor can reap the process. That crash is the more
      // precise reason; give it a few polls to show.
      for (int i = 0; i < kCrashGracePolls && failure.empty(); ++i) {
        Sleep(kCrashGracePoll);
        failure = CrashedCanaryInstance(started);
      }
      if (failure.empty()) failure = verdict.reason;
      break;
    }
    if (verdict.kind == CanaryVerdict::kPass && unhealthy.empty()) {
      c["verdict"] = verdict.reason;
      break;
    }
    save("canary");
    Sleep(std::min<milliseconds>(
        options_.canary_poll_interval,
        std::max<milliseconds>(milliseconds(1),
                               std::chrono::duration_cast<milliseconds>(deadline - clock_.Now()))));
  }

  if (!failure.empty()) {
    // 3a. Dropped: the canary's targets drain out of traffic; the main pool never changed.
    c["phase"] = "dropped";
    c["verdict"] = failure;
    save("canary");
    Status dropped = proxy_.DropCanary(route.service);
    if (!dropped.ok()) {
      // The instances stop below; the proxy falls back to main for an unroutable canary,
      // and Reconcile (pending) removes the pool once the proxy answers.
      spdlog::error("{}: dropping the canary pool: {}", where, dropped.message());
      std::lock_guard lock(stack_mutex_);
      reconcile_pending_ = true;
    } else {
      WaitDrained(route.service, route.targets, env.drain_timeout);
    }
    Progress(where + ": canary " + release + " dropped: " + failure.substr(0, failure.find('\n')));
    *judged = failure;
    ProxyDeployOutcome out;
    out.error = failure;
    return out;
  }

  // 3b. Promote: the canary's targets become the main pool; the old main pool drains and
  // stays warm (recorded by the caller exactly as for red/black).
  c["phase"] = "promoting";
  save("promoting");
  Status st = proxy_.PromoteCanary(route.service);
  if (!st.ok()) return st;  // unknown whether it switched: Reconcile decides by what is served
  c["phase"] = "promoted";
  d.canary = c.dump();
  Progress(where + ": canary " + release + " promoted: " + c.value("verdict", std::string()));
  return promoted;
}

}  // namespace gravity::deploy
