#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "config/spec.h"
#include "pipeline/mirror.h"
#include "pipeline/options.h"
#include "pipeline/run_store.h"
#include "store/db.h"

namespace gravity::pipeline {

struct WebhookResponse {
  int status = 200;
  std::string message;
};

// The pipeline of every app of a stack: watches repositories (poll + webhook), queues one
// run per new tip, and executes runs (checkout, build, test, seal, deploy hook).
//
// Threads: per app one watcher (fetches every poll_interval or when triggered) and one
// runner (one run at a time). Public methods are thread-safe. The store and the mirrors
// are thread-safe themselves; apps_ is immutable after Init(); each AppState's mutex
// guards its request flags.
class Pipeline {
 public:
  Pipeline(store::Db& db, config::StackSpec stack, PipelineOptions options);
  ~Pipeline();
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  // Migrations, mirrors, and recovery from a daemon that died mid-run: runs left running
  // are marked interrupted, their processes stopped, their half-made releases removed,
  // and the newest tip of their branch queued again.
  Status Init();
  void Start();  // starts the threads (unless options.start_threads is false)
  void Stop();   // cancels running commands (their runs become interrupted) and joins
  // The first half of Stop, without the join: running commands are cancelled and a run
  // that then fails, or reaches its next stage or environment, is interrupted (queued
  // again at the next start). The daemon calls it before it asks the deployer to stop.
  void BeginStop();

  // Asks the app's watcher to fetch now.
  Status TriggerFetch(const std::string& app, const std::string& trigger = "webhook");
  // Runs the pipeline for `ref` now (fetches it first). Empty env: the first environment
  // with a branch; empty ref: that environment's branch. Returns the queued run's id.
  Result<std::int64_t> RequestRun(const std::string& app, const std::string& ref,
                                  const std::string& env);
  // Pauses the automatic deploys (polling, webhooks) of app/env, persisted: new tips of
  // its branch are left alone until Resume. A deploy asked for (RequestRun) still runs.
  // Unknown app or environment: NotFound.
  Status Pause(const std::string& app, const std::string& env);
  // Resumes them; when a new tip came in while paused, queues a run of the branch's tip for
  // the environment and returns its id (0: nothing to catch up).
  Result<std::int64_t> Resume(const std::string& app, const std::string& env);
  // Verifies and handles `POST /hooks/<app>` (GitHub push format). The caller has
  // already capped the body size.
  WebhookResponse HandleWebhook(const std::string& app, const std::string& event,
                                const std::string& signature, const std::string& body);

  // One fetch of `app`'s watched branches; queues runs for new tips. (The watcher's step.)
  Status PollOnce(const std::string& app, const std::string& trigger = "poll");
  // Takes the next queued run of `app` and executes it; false when none was queued.
  Result<bool> RunNext(const std::string& app);

  RunStore& runs() { return runs_; }
  const config::StackSpec& stack() const { return stack_; }
  void SetDeployHook(DeployHook hook);  // before Start()
  // state_dir/releases/<app>: where the app's releases live.
  std::string ReleaseRoot(const std::string& app) const;

 private:
  struct AppState {
    config::StackApp spec;
    int index = 0;
    std::unique_ptr<Mirror> mirror;
    std::mutex mutex;
    std::condition_variable cv;
    bool fetch_requested = false;  // guarded by mutex
    std::string fetch_trigger;     // guarded by mutex
    bool run_requested = false;    // guarded by mutex
    std::atomic<bool> cancel{false};
    std::string last_remote_error;  // watcher thread only
    std::thread watcher, runner;
  };

  AppState* Find(const std::string& app);
  void WatchLoop(AppState* app);
  void RunLoop(AppState* app);
  void NotifyRunner(AppState* app);
  Status RecordFetchFailure(AppState* app, const std::vector<std::string>& branches,
                            const std::string& error, std::int64_t now);
  Status QueueRunForTip(AppState* app, const std::string& branch, const std::string& commit,
                        const std::vector<std::string>& envs, const std::string& trigger,
                        std::int64_t now);
  // One run, stage by stage (RunExecutor).
  Status Execute(AppState* app, const RunRecord& run);
  Status Recover();

  store::Db& db_;
  RunStore runs_;
  const config::StackSpec stack_;
  PipelineOptions options_;
  Clock& clock_;
  std::map<std::string, std::unique_ptr<AppState>> apps_;  // immutable after Init()
  std::atomic<bool> stopping_{false};                      // BeginStop
  std::atomic<bool> stopped_{false};                       // Stop
  bool started_ = false;
};

}  // namespace gravity::pipeline
