#include "logs/service.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace gravity::logs {

namespace {
std::int64_t WallNs(Clock& c) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(c.WallNow().time_since_epoch())
      .count();
}
}  // namespace

LogService::LogService(ServiceOptions options, std::unique_ptr<LogStore> store)
    : options_(std::move(options)),
      clock_(options_.clock ? *options_.clock : Clock::Real()),
      store_(std::move(store)) {
  MutexLock lock(ingest_mu_);
  ingester_ = std::make_unique<Ingester>(*store_, options_.logs_root, options_.access_log, clock_);
}

LogService::~LogService() { Stop(); }

Result<std::unique_ptr<LogService>> LogService::Open(ServiceOptions options) {
  ASSIGN_OR_RETURN(auto store, LogStore::Open(options.store_path));
  return std::unique_ptr<LogService>(new LogService(std::move(options), std::move(store)));
}

void LogService::Start() {
  {
    MutexLock lock(mu_);
    stopping_ = false;
  }
  thread_ = std::thread([this] { Loop(); });
}

void LogService::Stop() {
  {
    MutexLock lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Result<IngestStats> LogService::IngestNow() {
  MutexLock lock(ingest_mu_);
  if (!options_.on_stored) return ingester_->RunOnce();
  std::vector<Entry> stored;
  auto r = ingester_->RunOnce(32u << 20, &stored);
  if (r.ok() && !stored.empty()) options_.on_stored(stored);
  return r;
}

void LogService::Loop() {
  auto last_retention = clock_.Now() - options_.retention_interval;
  std::string last_error;
  std::int64_t since_retention = 0;
  std::int64_t smallest_cap = options_.retention.max_bytes;
  for (const auto& [app, r] : options_.per_app) smallest_cap = std::min(smallest_cap, r.max_bytes);
  if (smallest_cap <= 0) smallest_cap = std::int64_t{1} << 62;
  for (;;) {
    {
      MutexLock lock(mu_);
      if (stopping_) return;
    }
    auto r = IngestNow();
    if (!r.ok() && r.error() != last_error) spdlog::error("logs: ingest: {}", r.error());
    last_error = r.ok() ? "" : r.error();
    // Retention on its interval, and at once after a tenth of the smallest cap came in
    // (a flood must not wait half a minute past the cap).
    if (r.ok()) since_retention += static_cast<std::int64_t>(r->bytes);
    if (clock_.Now() - last_retention >= options_.retention_interval ||
        since_retention >= smallest_cap / 10) {
      last_retention = clock_.Now();
      since_retention = 0;
      auto rep = store_->Retain(options_.retention, options_.per_app, WallNs(clock_));
      if (!rep.ok()) {
        spdlog::error("logs: retention: {}", rep.error());
      } else {
        for (const auto& [app, n] : rep->dropped_lines) {
          spdlog::info("logs: retention dropped {} oldest lines of {}", n, app);
        }
      }
    }
    bool more = r.ok() && r->bytes >= (32u << 20) / 2;  // a backlog: go on at once
    MutexLock lock(mu_);
    if (stopping_) return;
    if (!more) mu_.WaitFor(cv_, options_.ingest_interval);
  }
}

void LogService::RecordStage(const std::string& app, const std::string& commit,
                             const std::string& stage,
                             const std::vector<std::pair<std::int64_t, std::string>>& lines_ms) {
  std::vector<Entry> entries;
  entries.reserve(lines_ms.size());
  for (const auto& [ms, text] : lines_ms) {
    Entry e;
    e.time_ns = ms * 1000000;
    e.app = app;
    e.release = commit;
    e.instance = stage;
    e.source = stage == "test" ? kSourceTest : stage == "deploy" ? kSourceDeploy : kSourceBuild;
    e.stream = "stdout";
    e.text = CleanText(text);
    entries.push_back(std::move(e));
  }
  if (Status s = store_->Append(entries); !s.ok()) {
    spdlog::error("logs: {} lines of {} {}: {}", entries.size(), app, stage, s.message());
  } else if (options_.on_stored) {
    options_.on_stored(entries);
  }
}

void LogService::RecordDeployEvent(const std::string& app, const std::string& env,
                                   const std::string& release, const std::string& text) {
  Entry e;
  e.time_ns = WallNs(clock_);
  e.app = app;
  e.env = env;
  e.release = release;
  e.instance = "deploy";
  e.source = kSourceDeploy;
  e.stream = "stdout";
  e.text = CleanText(text);
  if (Status s = store_->Append({e}); !s.ok()) {
    spdlog::error("logs: {}", s.message());
  } else if (options_.on_stored) {
    options_.on_stored({e});
  }
}

}  // namespace gravity::logs
