#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "config/spec.h"
#include "pipeline/command.h"
#include "pipeline/mirror.h"
#include "pipeline/options.h"
#include "pipeline/run_store.h"

namespace gravity::pipeline {

// What a run needs of its app; owned by the pipeline, alive for the run.
struct RunApp {
  const config::StackApp& spec;
  int index;                  // the app's place in the stack (its test port range)
  Mirror& mirror;             // where the commit is exported from
  std::atomic<bool>& cancel;  // set by the pipeline's stop: running commands end
};

// One run, stage by stage: checkout (export the commit into its release directory, read
// its gravity.yml), build, test (the files split across workers), seal (read-only), then
// the deploy hook once per environment. A stage that ends the run (failure,
// interruption) calls Finish(), and no later stage runs. A release already sealed by an
// earlier run of the commit is reused: build and test are skipped.
//
// Threads: Execute runs on the app's runner thread; the test stage's workers are threads
// of their own and share only TestResults (under its mutex) and the thread-safe store.
class RunExecutor {
 public:
  RunExecutor(RunStore& runs, const PipelineOptions& options, Clock& clock,
              const std::atomic<bool>& stopping);

  // Executes `run` to its end. The run's outcome (failed, interrupted...) is in the run
  // store; an error here is store trouble, and the run was not finished.
  Status Execute(const RunApp& app, const RunRecord& run);

  // state_dir/releases/<app>: where the app's releases live.
  static std::string ReleaseRoot(const std::string& state_dir, const std::string& app);

 private:
  struct Context;
  struct TestFailure;
  struct TestResults;

  Status CheckoutStage(Context& ctx);
  Status BuildStage(Context& ctx);
  Status TestStage(Context& ctx);
  void TestWorker(Context& ctx, int w, const std::vector<std::string>& files,
                  const std::string& tmp_root, TestResults& results);
  bool RunTestFile(Context& ctx, int w, const std::string& file, const std::string& tmp,
                   TestResults& results);
  static std::string DescribeFailures(std::vector<TestFailure> failures, std::size_t total);
  Status SealStage(Context& ctx);
  Status DeployStage(Context& ctx);
  Status Verify(Context& ctx, const std::string& env,
                const std::map<std::string, std::string>& candidate);
  Status Finish(Context& ctx, const std::string& stage, const std::string& status,
                const std::string& error);
  Status SkipStage(std::int64_t id, const std::string& stage);
  Status AppendRunLogs(Context& ctx, const std::string& stage, const std::vector<LogLine>& lines);
  void StoreLog(Context& ctx, const std::string& stage, const std::string& text);
  std::vector<std::string> SandboxWrapper(Context& ctx, const std::string& stage,
                                          const std::string& name,
                                          const std::vector<std::string>& writable,
                                          const std::vector<std::string>& read_only);
  CommandOptions SandboxedLikeTest(Context& ctx, const std::string& stage, const std::string& name,
                                   const std::string& tmp, std::chrono::milliseconds timeout);
  Result<CommandResult> RunTracked(Context& ctx, CommandOptions o);

  RunStore& runs_;
  const PipelineOptions& options_;
  Clock& clock_;
  const std::atomic<bool>& stopping_;  // the pipeline's BeginStop
};

}  // namespace gravity::pipeline
