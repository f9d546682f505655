#pragma once

// Shared by the config tests: the error-prefix helper and a gravity.yml using every field.

#include <string>

namespace gravity::config::testing_util {

// "file:line:col: " for a full location, "file:line:" for "line:" (column left open), and
// "file: " for "" (no position).
inline std::string Prefix(const std::string& file, const std::string& location) {
  if (location.empty()) return file + ": ";
  if (location.back() == ':') return file + ":" + location;
  return file + ":" + location + ": ";
}

inline constexpr const char* kFullApp = R"(build:
  command: make
  timeout: 5m
test:
  command: sh {file}
  files: tests/*_test.sh
  workers: 4
  timeout: 2m
run:
  command: gravity static public --port $PORT
health:
  path: /healthz
  status: 204
  body_contains: Automation for the people
  interval: 500ms
  timeout: 1s
  healthy_threshold: 3
  unhealthy_threshold: 5
  deploy_timeout: 1m
)";

}  // namespace gravity::config::testing_util
