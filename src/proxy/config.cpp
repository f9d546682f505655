#include "proxy/config.h"

#include <cctype>
#include <arpa/inet.h>

#include <algorithm>
#include <nlohmann/json.hpp>

namespace gravity::proxy {

using nlohmann::json;

namespace {

Status TypeError(const std::string& field, const char* want) {
  return Status::Error("'" + field + "' must be " + want);
}

Status GetString(const json& j, const char* key, std::string* out, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return Status::Ok();
  if (!it->is_string()) return TypeError(where + key, "a string");
  *out = it->get<std::string>();
  return Status::Ok();
}

Status GetInt(const json& j, const char* key, std::int64_t lo, std::int64_t hi, std::int64_t* out,
              const std::string& where) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return Status::Ok();
  if (!it->is_number_integer()) return TypeError(where + key, "an integer");
  std::int64_t v = it->get<std::int64_t>();
  if (v < lo || v > hi) {
    return Status::Error("'" + where + key + "' must be between " + std::to_string(lo) + " and " +
                         std::to_string(hi) + ", got " + std::to_string(v));
  }
  *out = v;
  return Status::Ok();
}

Status GetMs(const json& j, const char* key, std::int64_t lo, milliseconds* out,
             const std::string& where) {
  std::int64_t v = out->count();
  RETURN_IF_ERROR(GetInt(j, key, lo, 24ll * 3600 * 1000, &v, where));
  *out = milliseconds(v);
  return Status::Ok();
}

Status GetStrings(const json& j, const char* key, std::vector<std::string>* out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return Status::Ok();
  if (!it->is_array()) return TypeError(key, "an array of strings");
  std::vector<std::string> v;
  for (const auto& e : *it) {
    if (!e.is_string()) return TypeError(key, "an array of strings");
    v.push_back(e.get<std::string>());
  }
  *out = std::move(v);
  return Status::Ok();
}

Status ValidateTargets(const std::vector<std::string>& targets) {
  if (targets.empty()) return Status::Error("'targets' must list at least one HOST:PORT");
  for (std::size_t i = 0; i < targets.size(); ++i) {
    auto a = ParseAddress(targets[i]);
    if (!a.ok()) return a.status();
    for (std::size_t k = 0; k < i; ++k) {
      if (targets[k] == targets[i])
        return Status::Error("target '" + targets[i] + "' listed twice");
    }
  }
  return Status::Ok();
}

Result<PoolSpec> PoolFromJson(const json& j) {
  PoolSpec p;
  RETURN_IF_ERROR(GetStrings(j, "targets", &p.targets));
  RETURN_IF_ERROR(ValidateTargets(p.targets));
  auto it = j.find("health");
  if (it != j.end() && !it->is_null()) {
    ASSIGN_OR_RETURN(p.health, HealthFromJson(*it));
  }
  return p;
}

}  // namespace

namespace {

// `what` names the address in errors ("target", "listen address"); `min_port` is 0 where
// port 0 means "pick a free one".
Result<Address> ParseHostPort(const std::string& text, const char* what, int min_port) {
  std::size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) {
    return Status::Error(std::string(what) + " '" + text + "' is not HOST:PORT");
  }
  Address a;
  a.text = text;
  a.host = text.substr(0, colon);
  if (a.host.size() > 2 && a.host.front() == '[' && a.host.back() == ']') {
    a.host = a.host.substr(1, a.host.size() - 2);
  }
  std::string port = text.substr(colon + 1);
  if (port.size() > 5 || !std::all_of(port.begin(), port.end(), ::isdigit)) {
    return Status::Error(std::string(what) + " '" + text + "' has a bad port");
  }
  int p = std::stoi(port);
  if (p < min_port || p > 65535) return Status::Error(std::string(what) + " '" + text + "' has a bad port");
  a.port = static_cast<std::uint16_t>(p);
  if (a.host == "localhost") a.host = "127.0.0.1";
  unsigned char buf[16];
  if (inet_pton(AF_INET, a.host.c_str(), buf) != 1 &&
      inet_pton(AF_INET6, a.host.c_str(), buf) != 1) {
    return Status::Error(std::string(what) + " '" + text +
                         "' must be a numeric IP address (or localhost) and port");
  }
  return a;
}

}  // namespace

Result<Address> ParseAddress(const std::string& text) { return ParseHostPort(text, "target", 1); }

Result<Address> ParseListenAddress(const std::string& text) {
  return ParseHostPort(text, "listen address", 0);
}

Status ValidateServiceName(const std::string& name) {
  if (name.empty() || name.size() > 64 || name[0] == '.' || name[0] == '-' ||
      !std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
      })) {
    return Status::Error(
        "service name '" + name +
        "' must be 1-64 letters, digits, '.', '_' or '-', not starting with '.' or '-'");
  }
  return Status::Ok();
}

std::string NormalizeHost(std::string host) {
  std::transform(host.begin(), host.end(), host.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return host;
}

Status ValidateHostPattern(const std::string& host) {
  if (host == "*") return Status::Ok();
  std::string rest = host;
  if (rest.rfind("*.", 0) == 0) rest = rest.substr(2);
  bool ok =
      !rest.empty() && rest.size() <= 253 && rest.front() != '.' && rest.back() != '.' &&
      std::all_of(rest.begin(), rest.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
      });
  if (!ok) {
    return Status::Error("host '" + host + "' must be a host name, '*.domain' or '*'");
  }
  return Status::Ok();
}

Status ValidateWeight(int weight, bool with_baseline) {
  const int max = with_baseline ? 50 : 100;
  if (weight < 0 || weight > max) {
    return Status::Error("weight must be between 0 and " + std::to_string(max) + ", got " +
                         std::to_string(weight) +
                         (with_baseline ? " (the baseline pool gets the same share)" : ""));
  }
  return Status::Ok();
}

Result<HealthSpec> HealthFromJson(const json& j) {
  if (!j.is_object()) return Status::Error("'health' must be an object");
  HealthSpec h;
  const std::string w = "health.";
  RETURN_IF_ERROR(GetString(j, "path", &h.path, w));
  if (h.path.empty() || h.path[0] != '/' ||
      std::any_of(h.path.begin(), h.path.end(),
                  [](unsigned char c) { return c <= 0x20 || c == 0x7f; })) {
    return Status::Error(
        "'health.path' must start with '/' and contain no spaces or control characters");
  }
  std::int64_t v = h.status;
  RETURN_IF_ERROR(GetInt(j, "status", 100, 599, &v, w));
  h.status = static_cast<int>(v);
  RETURN_IF_ERROR(GetString(j, "body_contains", &h.body_contains, w));
  RETURN_IF_ERROR(GetMs(j, "interval_ms", 10, &h.interval, w));
  RETURN_IF_ERROR(GetMs(j, "timeout_ms", 10, &h.timeout, w));
  v = h.healthy_threshold;
  RETURN_IF_ERROR(GetInt(j, "healthy_threshold", 1, 100, &v, w));
  h.healthy_threshold = static_cast<int>(v);
  v = h.unhealthy_threshold;
  RETURN_IF_ERROR(GetInt(j, "unhealthy_threshold", 1, 100, &v, w));
  h.unhealthy_threshold = static_cast<int>(v);
  return h;
}

json HealthToJson(const HealthSpec& h) {
  return json{{"path", h.path},
              {"status", h.status},
              {"body_contains", h.body_contains},
              {"interval_ms", h.interval.count()},
              {"timeout_ms", h.timeout.count()},
              {"healthy_threshold", h.healthy_threshold},
              {"unhealthy_threshold", h.unhealthy_threshold}};
}

Result<ServiceSpec> DeployRequestFromJson(const std::string& name, const json& j) {
  RETURN_IF_ERROR(ValidateServiceName(name));
  if (!j.is_object()) return Status::Error("request body must be a JSON object");
  ServiceSpec s;
  s.name = name;
  RETURN_IF_ERROR(GetStrings(j, "hosts", &s.hosts));
  if (s.hosts.empty()) s.hosts = {"*"};
  for (auto& h : s.hosts) {
    h = NormalizeHost(h);
    RETURN_IF_ERROR(ValidateHostPattern(h));
  }
  std::sort(s.hosts.begin(), s.hosts.end());
  s.hosts.erase(std::unique(s.hosts.begin(), s.hosts.end()), s.hosts.end());
  RETURN_IF_ERROR(GetString(j, "path_prefix", &s.path_prefix, ""));
  if (s.path_prefix.empty() || s.path_prefix[0] != '/' ||
      s.path_prefix.find_first_of("?# \t\r\n") != std::string::npos) {
    return Status::Error("'path_prefix' must start with '/' and contain no '?', '#' or spaces");
  }
  ASSIGN_OR_RETURN(s.main, PoolFromJson(j));
  RETURN_IF_ERROR(GetMs(j, "deploy_timeout_ms", 0, &s.deploy_timeout, ""));
  RETURN_IF_ERROR(GetMs(j, "drain_timeout_ms", 0, &s.drain_timeout, ""));
  RETURN_IF_ERROR(GetInt(j, "hsts_max_age", 0, 2LL * 366 * 86400, &s.hsts_max_age, ""));
  return s;
}

json CanaryRequestToJson(const CanaryRequest& c) {
  json body{{"targets", c.pool.targets},
            {"weight", c.weight},
            {"health", HealthToJson(c.pool.health)},
            {"deploy_timeout_ms", c.deploy_timeout.count()}};
  if (!c.candidate_token.empty()) body["candidate_token"] = c.candidate_token;
  if (!c.baseline.empty()) body["baseline_targets"] = c.baseline;
  return body;
}

Result<CanaryRequest> CanaryRequestFromJson(const json& j) {
  if (!j.is_object()) return Status::Error("request body must be a JSON object");
  CanaryRequest c;
  ASSIGN_OR_RETURN(c.pool, PoolFromJson(j));
  std::int64_t w = 0;
  RETURN_IF_ERROR(GetInt(j, "weight", 0, 100, &w, ""));
  c.weight = static_cast<int>(w);
  if (j.contains("baseline_targets") && !j["baseline_targets"].is_null()) {
    RETURN_IF_ERROR(GetStrings(j, "baseline_targets", &c.baseline));
    RETURN_IF_ERROR(ValidateTargets(c.baseline).Prefixed("baseline_targets"));
    for (const auto& b : c.baseline) {
      if (std::find(c.pool.targets.begin(), c.pool.targets.end(), b) != c.pool.targets.end()) {
        return Status::Error("target '" + b + "' is in both the canary and the baseline pool");
      }
    }
    RETURN_IF_ERROR(ValidateWeight(c.weight, true));
  }
  RETURN_IF_ERROR(GetMs(j, "deploy_timeout_ms", 0, &c.deploy_timeout, ""));
  if (j.contains("candidate_token")) {
    if (!j["candidate_token"].is_string()) return Status::Error("candidate_token must be a string");
    c.candidate_token = j["candidate_token"].get<std::string>();
    if (c.candidate_token.size() < 16 || c.candidate_token.size() > 128) {
      return Status::Error("candidate_token must be 16 to 128 characters");
    }
    for (char ch : c.candidate_token) {
      if (!std::isalnum(static_cast<unsigned char>(ch))) {
        return Status::Error("candidate_token must be letters and digits");
      }
    }
  }
  return c;
}

json ServiceToJson(const ServiceSpec& s) {
  json j{{"name", s.name},
         {"hosts", s.hosts},
         {"path_prefix", s.path_prefix},
         {"targets", s.main.targets},
         {"health", HealthToJson(s.main.health)},
         {"deploy_timeout_ms", s.deploy_timeout.count()},
         {"drain_timeout_ms", s.drain_timeout.count()},
         {"hsts_max_age", s.hsts_max_age},
         {"canary", nullptr}};
  if (s.canary) {
    j["canary"] = json{{"targets", s.canary->pool.targets},
                       {"health", HealthToJson(s.canary->pool.health)},
                       {"weight", s.canary->weight}};
    if (!s.canary->baseline.empty()) j["canary"]["baseline_targets"] = s.canary->baseline;
  }
  return j;
}

Result<ServiceSpec> ServiceFromJson(const json& j) {
  if (!j.is_object()) return Status::Error("service entry must be an object");
  std::string name;
  RETURN_IF_ERROR(GetString(j, "name", &name, ""));
  ASSIGN_OR_RETURN(ServiceSpec s, DeployRequestFromJson(name, j));
  auto it = j.find("canary");
  if (it != j.end() && !it->is_null()) {
    ASSIGN_OR_RETURN(CanaryRequest c, CanaryRequestFromJson(*it));
    s.canary = CanarySpec{c.pool, c.weight, c.baseline};
  }
  return s;
}

}  // namespace gravity::proxy
