#include "support/prometheus.h"

#include "common/fs.h"
#include "common/http1.h"
#include "support/http_client.h"
#include "support/net.h"
#include "support/wait.h"

namespace gravity::test {

namespace {

std::string TargetsJson(const std::vector<std::string>& targets) {
  std::string list;
  for (const auto& t : targets) list += (list.empty() ? "\"" : ", \"") + t + "\"";
  return "[{\"targets\": [" + list + "]}]\n";
}

}  // namespace

Result<std::unique_ptr<Prometheus>> Prometheus::Start(PrometheusOptions options) {
  std::unique_ptr<Prometheus> p(new Prometheus());
  p->dir_ = std::make_unique<TempDir>("gravity-prometheus");
  p->port_ = FreePort();
  std::string statics;
  for (const auto& t : options.static_targets) statics += (statics.empty() ? "'" : ", '") + t + "'";
  p->dir_->Write("apps.json", TargetsJson(options.app_targets));
  const std::string config =
      "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
      "scrape_configs:\n"
      "  - job_name: static\n    static_configs:\n      - targets: [" + statics + "]\n"
      "  - job_name: apps\n    file_sd_configs:\n      - files: ['" + p->dir_->Join("apps.json") +
      "']\n        refresh_interval: 1s\n";
  const std::string config_path = p->dir_->Write("prometheus.yml", config);
  auto proc = Subprocess::Start(
      {.argv = {"prometheus", "--config.file=" + config_path,
                "--storage.tsdb.path=" + p->dir_->Join("data"),
                "--web.listen-address=127.0.0.1:" + std::to_string(p->port_),
                "--log.level=warn"},
       .output_path = p->dir_->Join("prometheus.log")});
  if (!proc.ok()) return Status::Error("cannot start prometheus: " + proc.error());
  p->process_ = std::move(*proc);
  Prometheus* raw = p.get();
  bool ready = WaitFor(
      [&] {
        if (!raw->process_->Running()) return true;
        auto r = HttpGet(raw->port_, "/-/ready", "", std::chrono::seconds(2));
        return r.ok() && r->status == 200;
      },
      options.start_timeout, std::chrono::milliseconds(100));
  if (!ready || !p->process_->Running()) {
    return Status::Error("prometheus did not become ready on port " + std::to_string(p->port_) +
                         ":\n" + p->Logs());
  }
  return p;
}

Prometheus::~Prometheus() {
  if (process_) process_->Stop(std::chrono::seconds(5));
}

Status Prometheus::SetAppTargets(const std::vector<std::string>& targets) {
  return WriteFileAtomic(dir_->Join("apps.json"), TargetsJson(targets));
}

Result<std::string> Prometheus::Query(const std::string& promql) const {
  auto r = HttpGet(port_, "/api/v1/query?query=" + http1::PercentEncode(promql), "", std::chrono::seconds(5));
  if (!r.ok()) return r.status();
  return r->body;
}

}  // namespace gravity::test
