#pragma once

// Loading and validating gravity.yml and stack.yml.
//
// Every problem found is reported as `FILE:LINE:COL: where: what is wrong`, one line per
// problem (all problems found, not only the first; capped at kMaxErrors), joined with
// '\n' into the returned Status. Nothing here throws. All functions are thread-safe (no
// shared state).

#include <string>
#include <string_view>

#include "common/status.h"
#include "config/spec.h"

namespace gravity::config {

inline constexpr int kMaxErrors = 20;
inline constexpr size_t kMaxFileBytes = 1 << 20;

// Parses gravity.yml text. `display_name` is what errors call the file.
Result<AppSpec> ParseAppSpec(std::string_view yaml,
                             const std::string& display_name = "gravity.yml");

// Reads and parses `path`; errors call it `display_name` (default: `path` as given).
Result<AppSpec> LoadAppSpec(const std::string& path, const std::string& display_name = "");

// Parses stack.yml text. `stack_path` locates the file: relative paths in it (state_dir,
// a local repo, webhook_secret_file) are resolved against its directory, and errors call
// it `stack_path` as given. Checks that webhook secret files exist and are not empty.
Result<StackSpec> ParseStackSpec(std::string_view yaml, const std::string& stack_path);

// Reads and parses the stack file at `path`.
Result<StackSpec> LoadStackSpec(const std::string& path);

// "host:port" or "[v6]:port" with a port 1-65535.
Result<ListenAddress> ParseListenAddress(std::string_view text);

// Edit distance (insert, delete, substitute, each 1), used for "did you mean".
int EditDistance(std::string_view a, std::string_view b);

}  // namespace gravity::config
