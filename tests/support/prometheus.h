#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "support/subprocess.h"
#include "support/temp_dir.h"

namespace gravity::test {

struct PrometheusOptions {
  // host:port targets scraped every second as job "static" (e.g. the proxy's --metrics).
  std::vector<std::string> static_targets;
  // Targets of job "apps", changed while it runs by SetAppTargets (file-based discovery).
  std::vector<std::string> app_targets;
  std::chrono::milliseconds start_timeout = std::chrono::seconds(60);
};

// A real Prometheus server for tests: Debian's `prometheus`, its config and TSDB in a temp
// dir, listening on a free loopback port, scraping every second. Start() returns when it
// is ready (/-/ready). Destruction kills it and removes the temp dir. Not thread-safe.
class Prometheus {
 public:
  static Result<std::unique_ptr<Prometheus>> Start(PrometheusOptions options = {});
  ~Prometheus();
  Prometheus(const Prometheus&) = delete;
  Prometheus& operator=(const Prometheus&) = delete;

  // "http://127.0.0.1:<port>"
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }

  // Replaces job "apps"'s targets (Prometheus notices the file within a second or two).
  Status SetAppTargets(const std::vector<std::string>& targets);

  // The body of GET /api/v1/query?query=... now, or why it failed.
  Result<std::string> Query(const std::string& promql) const;

  std::string Logs() const { return process_ ? process_->Output() : ""; }

 private:
  Prometheus() = default;

  std::unique_ptr<TempDir> dir_;
  int port_ = 0;
  std::unique_ptr<Subprocess> process_;
};

}  // namespace gravity::test
