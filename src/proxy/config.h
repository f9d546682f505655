#pragma once

// What the control API, the CLI and the state file describe: services, their pools and
// health checks, and the proxy's own limits. Plain values; JSON conversion and validation.
// Thread-safety: plain values, no shared state.

#include <chrono>
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/health_check_spec.h"
#include "common/status.h"

namespace gravity::proxy {

using std::chrono::milliseconds;

// What a health check asks: one type below the proxy and gravity.yml (common/).
using HealthSpec = gravity::HealthCheckSpec;

// A parsed "HOST:PORT" upstream address. Only numeric IPv4/IPv6 and "localhost".
struct Address {
  std::string text;  // as given, e.g. "127.0.0.1:20001"
  std::string host;  // "127.0.0.1", "::1"
  std::uint16_t port = 0;
};
Result<Address> ParseAddress(const std::string& text);
// The same for an address to listen on, where port 0 picks a free port.
Result<Address> ParseListenAddress(const std::string& text);

struct PoolSpec {
  std::vector<std::string> targets;
  HealthSpec health;
};

struct CanarySpec {
  PoolSpec pool;
  int weight = 0;  // 0..100: share of clients sent to the canary
  // Non-empty: a baseline pool (fresh instances of the live release, health-checked with
  // the main pool's spec) with the same share of clients as the canary (weight then at
  // most 50).
  std::vector<std::string> baseline;
};

struct ServiceSpec {
  std::string name;
  std::vector<std::string> hosts = {"*"};
  std::string path_prefix = "/";
  PoolSpec main;
  std::optional<CanarySpec> canary;
  milliseconds deploy_timeout{30000};
  milliseconds drain_timeout{30000};
  // Strict-Transport-Security max-age (seconds) on responses over HTTPS; 0: none.
  std::int64_t hsts_max_age = 0;
};

// Service names: 1-64 of [A-Za-z0-9._-], not starting with '.' or '-'.
Status ValidateServiceName(const std::string& name);
// Host patterns: "*", "*.example.com", or a host name (lowercased by NormalizeHost).
Status ValidateHostPattern(const std::string& host);
std::string NormalizeHost(std::string host);

// Parses the "health" object of the control API (missing fields keep their defaults).
Result<HealthSpec> HealthFromJson(const nlohmann::json& j);
nlohmann::json HealthToJson(const HealthSpec& h);

// PUT /v1/services/<name> body -> spec (name taken from the URL).
Result<ServiceSpec> DeployRequestFromJson(const std::string& name, const nlohmann::json& j);
// PUT /v1/services/<name>/canary body.
struct CanaryRequest {
  PoolSpec pool;
  int weight = 0;
  // Non-empty: requests carrying `X-Gravity-Candidate: <token>` go to the canary pool
  // whatever its weight (the deployer's verify step reaches new instances this way).
  std::string candidate_token;
  // "baseline_targets": see CanarySpec::baseline.
  std::vector<std::string> baseline;
  milliseconds deploy_timeout{30000};
};
Result<CanaryRequest> CanaryRequestFromJson(const nlohmann::json& j);
// The body CanaryRequestFromJson reads (what ControlClient::DeployCanary sends).
nlohmann::json CanaryRequestToJson(const CanaryRequest& c);
// 0..100, or 0..50 with a baseline pool (which gets the same share again).
Status ValidateWeight(int weight, bool with_baseline = false);

// The persisted form of a service (state file).
nlohmann::json ServiceToJson(const ServiceSpec& s);
Result<ServiceSpec> ServiceFromJson(const nlohmann::json& j);

// Limits and timeouts of the data plane; every one has a flag on `gravity proxy run`.
struct ProxyLimits {
  std::size_t max_header_bytes = 16 * 1024;       // 431 beyond
  std::size_t max_headers = 100;                  // 431 beyond
  std::uint64_t max_body_bytes = 64ull << 20;     // 413 beyond
  milliseconds client_header_timeout{10000};      // whole request head must arrive in this
  milliseconds client_body_timeout{60000};        // between body reads from the client
  milliseconds idle_timeout{60000};               // keep-alive client connection idle
  milliseconds upstream_connect_timeout{5000};    // 504 beyond
  milliseconds upstream_response_timeout{60000};  // 504 beyond; also between body reads
  milliseconds upstream_idle_timeout{30000};      // pooled upstream connection idle
  milliseconds shutdown_timeout{10000};           // SIGTERM: in-flight requests get this long
  std::size_t max_idle_upstream_per_target = 256;
};

}  // namespace gravity::proxy
