// Test-splitting benchmark: a synthetic suite of 40 test files that sleep for known,
// uneven durations, run through the real pipeline (git mirror, checkout, test workers)
// with 1 and 4 workers, first without history and then with the history of the first run.
// Prints the test-stage wall time against the lower bound max(total / workers, longest).
#include <spdlog/spdlog.h>

#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "common/fs.h"
#include "config/spec.h"
#include "pipeline/command.h"
#include "pipeline/pipeline.h"
#include "store/db.h"

using namespace gravity;

namespace {

constexpr int kFiles = 40;

// Durations in ms: a geometric tail of long files and a floor of short ones; names are
// shuffled against durations so name order says nothing about length.
std::vector<int> Durations() {
  std::vector<int> d;
  double x = 2000;
  for (int i = 0; i < kFiles; ++i) {
    d.push_back(static_cast<int>(x) + 50);
    x *= 0.9;
  }
  return d;
}

std::string Name(int i) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "tests/t%02d_test.sh", (i * 17) % kFiles);
  return buf;
}

void Sh(const std::string& dir, const std::string& cmd) {
  pipeline::CommandOptions o;
  o.command = cmd;
  o.cwd = dir;
  o.env = {{"GIT_AUTHOR_NAME", "bench"},    {"GIT_AUTHOR_EMAIL", "b@example.com"},
           {"GIT_COMMITTER_NAME", "bench"}, {"GIT_COMMITTER_EMAIL", "b@example.com"},
           {"GIT_CONFIG_NOSYSTEM", "1"},    {"HOME", dir}};
  auto r = pipeline::RunCommand(o);
  if (!r.ok() || !r->ok) {
    std::fprintf(stderr, "%s failed: %s\n", cmd.c_str(),
                 r.ok() ? r->log.Tail(5).c_str() : r.error().c_str());
    std::exit(1);
  }
}

struct Measure {
  double test_ms = 0;
  double busy_ms = 0;     // sum of the per-file durations the pipeline recorded
  double planned_ms = 0;  // makespan of the split actually used, on the files' true durations
  std::string status;
};

// Runs the newest tip of the repo through the pipeline; returns the test stage's wall time.
Measure RunOnce(pipeline::Pipeline& p, const std::map<std::string, int>& truth) {
  Status st = p.PollOnce("suite");
  if (!st.ok()) {
    std::fprintf(stderr, "poll: %s\n", st.message().c_str());
    std::exit(1);
  }
  auto ran = p.RunNext("suite");
  if (!ran.ok() || !*ran) {
    std::fprintf(stderr, "no run\n");
    std::exit(1);
  }
  auto runs = p.runs().ListRuns("suite", 1);
  const auto& run = (*runs)[0];
  Measure m;
  m.status = run.status + (run.error.empty() ? "" : ": " + run.error);
  if (auto tests = p.runs().Tests(run.id); tests.ok()) {
    std::map<int, double> per_worker;
    for (const auto& t : *tests) {
      m.busy_ms += static_cast<double>(t.duration_ms);
      per_worker[t.worker] += truth.at(t.file);
    }
    for (const auto& [w, ms] : per_worker) m.planned_ms = std::max(m.planned_ms, ms);
  }
  auto stages = p.runs().Stages(run.id);
  if (!stages.ok()) return m;
  for (const auto& s : *stages) {
    if (s.name == "test") m.test_ms = static_cast<double>(s.finished_ms - s.started_ms);
  }
  return m;
}

}  // namespace

int main() {
  spdlog::set_level(spdlog::level::warn);
  std::vector<int> durations = Durations();
  double total = 0;
  int longest = 0;
  for (int d : durations) {
    total += d;
    longest = std::max(longest, d);
  }
  std::printf("synthetic suite: %d files, %.1fs in total, longest %.2fs\n\n", kFiles, total / 1000,
              longest / 1000.0);
  std::printf("%-8s %-18s %10s %12s %8s %14s %12s %14s\n", "workers", "run", "wall (s)",
              "bound (s)", "ratio", "files sum (s)", "planned (s)", "planned ratio");
  for (int workers : {1, 4}) {
    auto dir = MakeTempDir("gravity-bench-pipeline");
    if (!dir.ok()) return 1;
    std::string repo = *dir + "/repo";
    MakeDirs(repo + "/tests");
    Sh(repo, "git init -q -b main .");
    std::string yml = "test:\n  command: sh {file}\n  files: tests/*_test.sh\n  workers: " +
                      std::to_string(workers) + "\nrun:\n  command: x\n";
    WriteFileAtomic(repo + "/gravity.yml", yml);
    for (int i = 0; i < kFiles; ++i) {
      char body[64];
      std::snprintf(body, sizeof body, "sleep %.3f\n", durations[i] / 1000.0);
      WriteFileAtomic(repo + "/" + Name(i), body);
    }
    Sh(repo, "git add -A && git commit -qm suite");
    auto db = store::Db::Open(*dir + "/state.db");
    if (!db.ok()) return 1;
    config::StackSpec stack;
    stack.state_dir = *dir + "/state";
    config::StackApp app;
    app.name = "suite";
    app.repo = repo;
    config::EnvironmentSpec env;
    env.name = "ci";
    env.branch = "main";
    app.environments.push_back(env);
    stack.apps.push_back(app);
    pipeline::PipelineOptions options;
    options.start_threads = false;
    pipeline::Pipeline p(**db, stack, options);
    if (Status st = p.Init(); !st.ok()) {
      std::fprintf(stderr, "%s\n", st.message().c_str());
      return 1;
    }
    double bound = std::max(total / workers, static_cast<double>(longest));
    std::map<std::string, int> truth;
    for (int i = 0; i < kFiles; ++i) truth[Name(i)] = durations[i];
    Measure first = RunOnce(p, truth);
    Sh(repo, "echo again > marker && git add marker && git commit -qm again");
    Measure second = RunOnce(p, truth);
    for (const auto& [label, m] : {std::pair<const char*, Measure>{"first (no history)", first},
                                   {"second (history)", second}}) {
      bool ok = m.status.rfind("succeeded", 0) == 0;
      std::printf("%-8d %-18s %10.2f %12.2f %8.3f %14.2f %12.2f %14.3f%s%s\n", workers, label,
                  m.test_ms / 1000, bound / 1000, m.test_ms / bound, m.busy_ms / 1000,
                  m.planned_ms / 1000, m.planned_ms / bound, ok ? "" : "  ",
                  ok ? "" : m.status.c_str());
    }
    RemoveTree(*dir);
  }
  std::printf(
      "\nbound = max(total / workers, longest file); goal: second run with 4 workers within 10%%\n"
      "of it (ratio <= 1.10). 'files sum' is the per-file time the pipeline measured (above the\n"
      "suite's total = process start-up and machine load); 'planned' is the makespan of the split\n"
      "that was used, computed on the files' true durations (the split's quality, free of "
      "load).\n");
  return 0;
}
