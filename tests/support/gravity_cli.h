#pragma once

// Running the `gravity` CLI as a user would, for the end-to-end tests. Not thread-safe.

#include <chrono>
#include <string>
#include <vector>

namespace gravity::test {

struct CliResult {
  int exit_code = -1;  // -2: still running after the timeout (then killed)
  std::string output;  // stdout and stderr
};

// Runs `gravity ARGS...` in `cwd` to completion (bounded by `timeout`); `bin` is another
// gravity binary (empty: the one built).
CliResult Gravity(const std::vector<std::string>& args, const std::string& cwd,
                  std::chrono::milliseconds timeout = std::chrono::seconds(120),
                  const std::string& bin = "");

}  // namespace gravity::test
