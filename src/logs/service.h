#pragma once

// The daemon's side of the log store: opens it, ingests the instance and proxy files every
// `ingest_interval`, applies retention every `retention_interval`, and takes the lines the
// pipeline and deploys produce directly.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "common/thread_annotations.h"
#include "logs/ingester.h"
#include "logs/store.h"

namespace gravity::logs {

struct ServiceOptions {
  std::string store_path;  // state_dir/logs.db
  std::string logs_root;   // state_dir/logs
  std::string access_log;  // the proxy's access log ("" = none)
  Retention retention;     // defaults for every app
  std::map<std::string, Retention> per_app;
  std::chrono::milliseconds ingest_interval{200};
  std::chrono::milliseconds retention_interval{30000};
  // Gets every line once it is stored (the forwarders' Offer: must not block).
  std::function<void(const std::vector<Entry>&)> on_stored;
  Clock* clock = nullptr;  // default: the real clock
};

// Thread-safe: Record* from any thread; Start/Stop from the owner.
class LogService {
 public:
  static Result<std::unique_ptr<LogService>> Open(ServiceOptions options);
  ~LogService();

  LogStore& store() { return *store_; }
  void Start() EXCLUDES(mu_);
  void Stop() EXCLUDES(mu_);

  // One ingest pass now (also what the thread does).
  Result<IngestStats> IngestNow() EXCLUDES(ingest_mu_);
  // Lines of a pipeline stage ("build", "test", "checkout", "seal", "deploy"): source build
  // for checkout/build/seal, test, deploy.
  void RecordStage(const std::string& app, const std::string& commit, const std::string& stage,
                   const std::vector<std::pair<std::int64_t, std::string>>& lines_ms);
  // A deploy event outside a run (a rollback, a promotion, a crash-restart).
  void RecordDeployEvent(const std::string& app, const std::string& env,
                         const std::string& release, const std::string& text);

 private:
  explicit LogService(ServiceOptions options, std::unique_ptr<LogStore> store);
  void Loop() EXCLUDES(mu_);

  const ServiceOptions options_;
  Clock& clock_;
  std::unique_ptr<LogStore> store_;  // immutable pointer; the store is thread-safe
  Mutex ingest_mu_;                  // one pass at a time
  std::unique_ptr<Ingester> ingester_ GUARDED_BY(ingest_mu_);
  Mutex mu_;
  std::condition_variable cv_;
  bool stopping_ GUARDED_BY(mu_) = false;
  std::thread thread_;  // owner thread only
};

}  // namespace gravity::logs
