#pragma once

// The two files a user writes: `gravity.yml` (AppSpec, versioned with the app's code) and
// `stack.yml` (StackSpec, the environment template). Plain structs with defaults filled
// in; parsing and validation live in config.h. No YAML types leak out of this header.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/health_check_spec.h"
#include "common/resource_limits.h"

namespace gravity::config {

using Duration = std::chrono::milliseconds;

// ---------------------------------------------------------------- gravity.yml

struct BuildSpec {
  std::string command;  // run with /bin/sh -c in the release directory
  Duration timeout = std::chrono::minutes(10);
};

struct TestSpec {
  // Run once per test file. "{file}" is replaced by the shell-quoted file path; the path
  // is also in $GRAVITY_TEST_FILE.
  std::string command;
  // Globs relative to the release directory (one or more; never absolute, never "..").
  std::vector<std::string> files;
  int workers = 1;
  Duration timeout = std::chrono::minutes(10);
};

struct RunSpec {
  std::string command;  // must listen on $PORT
};

// gravity.yml's health: section: the check itself (common/health_check_spec.h, the type
// meant for the proxy's checker too) and how long a deploy waits for new instances to
// pass it.
struct HealthSpec : HealthCheckSpec {
  Duration deploy_timeout = std::chrono::seconds(30);

  bool operator==(const HealthSpec&) const = default;
};

// Acceptance checks against the new instances before they get any traffic: run (sandboxed
// like tests) with $GRAVITY_CANDIDATE_URL, $GRAVITY_CANDIDATE_HOST and
// $GRAVITY_CANDIDATE_HEADER reaching them through the proxy.
struct VerifySpec {
  std::string command;  // run with /bin/sh -c in the release directory
  Duration timeout = std::chrono::minutes(2);
};

struct AppSpec {
  std::optional<BuildSpec> build;
  std::optional<TestSpec> test;
  std::optional<VerifySpec> verify;
  RunSpec run;
  HealthSpec health;
};

// ---------------------------------------------------------------- stack.yml

enum class Strategy { kRedBlack, kCanary };
const char* StrategyName(Strategy s);  // "red_black" | "canary"

// Settings of the canary strategy (used only when strategy is canary).
// One step of a canary: `weight`% of clients for `duration`, judged at its end.
struct CanaryStep {
  int weight = 10;
  Duration duration = std::chrono::minutes(1);
  bool operator==(const CanaryStep&) const = default;
};

// What a step whose pools got fewer than min_requests requests does (it is inconclusive).
enum class NoTraffic { kPass, kFail, kExtend };

// canary.metrics: one check against Prometheus per step (docs/deploy.md, "Metric checks").
// The query's placeholders {{release}}, {{app}}, {{env}} and {{window}} are filled per step.
struct CanaryMetricCheck {
  std::string name;   // unique within canary.metrics
  std::string query;  // PromQL; one series or a scalar
  // Exactly one is set: the value must be at most `max` (above: High) or at least `min`
  // (below: Low).
  std::optional<double> max, min;
  bool operator==(const CanaryMetricCheck&) const = default;
};

struct CanarySpec {
  int weight = 10;                              // % of clients sent to the new release
  Duration duration = std::chrono::minutes(1);  // observed this long before promotion
  // canary.steps; empty: one step of `weight` for `duration` (the shorthand).
  std::vector<CanaryStep> steps;
  double max_error_rate = 0.01;                 // 5xx share above which it is dropped
  // The canary's 5xx share is computed over at least this many requests: with fewer, the
  // 5xx count is divided by min_requests (too little traffic cannot hide errors). Also the
  // requests each pool needs in a step for its latency and error rates to be compared.
  int min_requests = 20;
  // The judge (docs/deploy.md "How a canary is judged"): a metric is High when the canary
  // is worse than the comparison pool at this confidence and by more than the tolerance.
  double confidence = 0.98;
  double max_latency_increase = 0.20;  // of the comparison pool's median latency
  // An increase smaller than this is never High, however certain: a fresh instance's
  // 0.05 ms over a warm one is real, and irrelevant.
  Duration latency_noise = std::chrono::milliseconds(1);
  double max_error_increase = 0.005;   // absolute: 0.5 percentage points
  bool judge_4xx = false;              // also compare 4xx rates
  int pass_score = 95;                 // a step's score at or above: next step / promote
  int marginal_score = 75;             // below: roll back; between: the step is extended once
  NoTraffic no_traffic = NoTraffic::kPass;
  // A fresh baseline pool of the live release (as many instances as the canary, the same
  // share of clients, started with it) is what the canary is compared with; false: the
  // main pool.
  bool baseline = false;
  // canary.prometheus: the server's base URL ("http://127.0.0.1:9090"); required with metrics.
  std::string prometheus;
  std::vector<CanaryMetricCheck> metrics;  // canary.metrics

  // The steps to run: `steps`, or the shorthand's one step.
  std::vector<CanaryStep> Steps() const {
    return steps.empty() ? std::vector<CanaryStep>{{weight, duration}} : steps;
  }
  bool operator==(const CanarySpec&) const = default;
};

struct ListenAddress {
  std::string host;  // "127.0.0.1", "::1", "0.0.0.0", "localhost"
  std::uint16_t port = 0;

  std::string ToString() const;  // "127.0.0.1:8080", "[::1]:8080"
  bool operator==(const ListenAddress&) const = default;
};

// `webhooks:` in stack.yml: the proxy routes http(s)://HOST/hooks/<app> to the daemon's
// webhook listener, which serves the signed webhooks and nothing else of the daemon. The
// admin API can then stay on loopback.
struct WebhookRoute {
  std::string host;                      // a host name (no wildcard, no port)
  ListenAddress listen{"127.0.0.1", 0};  // the daemon's webhook listener; port 0: any free one
  bool operator==(const WebhookRoute&) const = default;
};

// One destination of `logs.forward` (docs/logs.md).
struct LogForward {
  enum class Kind { kSyslogTcp, kSyslogUdp, kLoki, kFile };  // as logs::Destination::Kind
  Kind kind = Kind::kFile;
  std::string host;  // syslog, loki
  std::uint16_t port = 0;
  std::string path;  // file: absolute path; loki: URL path prefix ("" or "/base")
  bool operator==(const LogForward&) const = default;
};

// `logs:` of the stack: the log store's retention (docs/logs.md), per app.
struct LogsSpec {
  std::vector<LogForward> forward;
  std::int64_t max_bytes = std::int64_t{1} << 30;                // retention.max_bytes
  std::chrono::milliseconds max_age = std::chrono::hours(24 * 14);  // retention.max_age
  bool operator==(const LogsSpec&) const = default;
};

// `tls:` of an environment: how its host gets a certificate on the proxy's HTTPS listener.
enum class TlsMode { kOff, kAuto, kFiles };  // off | auto (ACME) | { certificate, key }
const char* TlsModeName(TlsMode m);          // "off" | "auto" | "files"
struct TlsSpec {
  TlsMode mode = TlsMode::kOff;
  std::string certificate;  // kFiles: absolute paths of the PEM chain and key
  std::string key;
  bool operator==(const TlsSpec&) const = default;
};

struct EnvironmentSpec {
  std::string name;
  std::string branch;        // exactly one of branch / promote_from is set
  std::string promote_from;  // name of another environment of the same app
  std::string host = "*";    // Host routed here: exact, "*.example.com", or "*" (default)
  int instances = 1;
  Strategy strategy = Strategy::kRedBlack;
  CanarySpec canary;
  Duration drain_timeout = std::chrono::seconds(30);
  Duration keep_previous = std::chrono::minutes(10);
  // After a swap or promotion, the new live release is judged this long against the
  // previous one (still warm) and rolled back to it on a regression; 0: no watch.
  Duration watch = Duration::zero();
  std::map<std::string, std::string> env;
  ResourceLimits limits = ResourceLimits::InstanceDefaults();  // per instance
  SandboxMode sandbox = SandboxMode::kStrict;                  // `off` only when written
  // Data directories (`data: [uploads]`): persistent across releases, one set per app and
  // environment, the only writable place of an instance besides /tmp
  // ($GRAVITY_DATA_DIR/<name>, docs/runtime.md).
  std::vector<std::string> data;
  TlsSpec tls;
  // Strict-Transport-Security max-age sent on HTTPS responses; 0: none.
  Duration hsts = Duration::zero();

  bool operator==(const EnvironmentSpec&) const = default;
};

struct StackApp {
  std::string name;
  // As written when it is a URL (https://, ssh://, file://, user@host:path); an absolute
  // path when it was a local path (resolved relative to the stack file).
  std::string repo;
  Duration poll_interval = std::chrono::seconds(2);
  std::string webhook_secret_file;  // absolute; empty when webhooks are off
  int keep_releases = 5;            // releases kept on disk (live + warm are never deleted)
  // Build and test commands run sandboxed under these (each command its own cgroup).
  ResourceLimits build_limits = ResourceLimits::BuildDefaults();
  SandboxMode build_sandbox = SandboxMode::kStrict;  // `off` only when written
  std::vector<EnvironmentSpec> environments;  // in file order

  const EnvironmentSpec* FindEnvironment(const std::string& env_name) const;
  bool operator==(const StackApp&) const = default;
};

// `proxy.https.acme`: where `tls: auto` certificates come from (RFC 8555).
struct AcmeSpec {
  std::string directory;  // the CA's directory URL (https://)
  std::string email;      // account contact; may be empty
  std::string ca_bundle;  // absolute; extra trust for the CA's own HTTPS; may be empty
  std::string challenge = "http-01";  // or "tls-alpn-01": how the proxy proves the name
  bool operator==(const AcmeSpec&) const = default;
};

// `proxy.https`: the proxy's HTTPS listener.
struct HttpsSpec {
  ListenAddress listen{"127.0.0.1", 8443};
  bool redirect_http = true;  // plain HTTP for hosts with a certificate: 308 to https://
  std::optional<AcmeSpec> acme;
  bool operator==(const HttpsSpec&) const = default;
};

struct PortRange {
  std::uint16_t first = 20000;
  std::uint16_t last = 29999;
  bool operator==(const PortRange&) const = default;
};

struct StackSpec {
  std::string file;       // absolute path of the stack file
  std::string state_dir;  // absolute (default: <dir of file>/.gravity)
  ListenAddress proxy_listen{"127.0.0.1", 8080};
  std::optional<ListenAddress> proxy_metrics;  // Prometheus endpoint; off when unset
  std::optional<HttpsSpec> proxy_https;        // off when unset
  ListenAddress admin_listen{"127.0.0.1", 7070};
  std::optional<WebhookRoute> webhooks;  // off when unset
  LogsSpec logs;
  PortRange instance_ports;    // $PORT of instances is allocated from here
  std::vector<StackApp> apps;  // in file order

  const StackApp* FindApp(const std::string& app_name) const;
};

// ---------------------------------------------------------------- Diff

struct EnvironmentChange {
  std::string name;
  std::vector<std::string> fields;  // e.g. {"instances", "env"}
};

struct AppChange {
  std::string name;
  std::vector<std::string> fields;  // app-level fields: "repo", "poll_interval", ...
  std::vector<std::string> environments_added;
  std::vector<std::string> environments_removed;
  std::vector<EnvironmentChange> environments_changed;
};

struct StackDiff {
  std::vector<std::string> fields;  // stack-level: "state_dir", "proxy.listen", ...
  std::vector<std::string> apps_added;
  std::vector<std::string> apps_removed;
  std::vector<AppChange> apps_changed;

  bool empty() const {
    return fields.empty() && apps_added.empty() && apps_removed.empty() && apps_changed.empty();
  }
  // One line per change, e.g. "app site: environment staging changed: instances, env".
  std::vector<std::string> Describe() const;
};

// What `gravity up` must do to go from `before` to `after`. Apps and environments are
// matched by name; an environment whose every field is equal is unchanged.
StackDiff Diff(const StackSpec& before, const StackSpec& after);

}  // namespace gravity::config
