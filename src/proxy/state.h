#pragma once

// The persisted routing table: <state-dir>/routes.json plus routes.json.bak, the previous
// good copy. Saving writes the backup first, then the file, each atomically.
// Thread-safety: free functions; callers serialize saves.

#include <string>
#include <vector>

#include "common/status.h"
#include "proxy/config.h"

namespace gravity::proxy {

struct LoadedState {
  std::vector<ServiceSpec> services;
  std::string warning;  // non-empty when the main file was unusable and the backup was used
};

Status SaveState(const std::string& path, const std::vector<ServiceSpec>& services);

// Missing file: empty state. Corrupt file: the backup, with `warning` saying what was wrong
// with which file. Both unusable: an error naming both problems.
Result<LoadedState> LoadState(const std::string& path);

// Parses the content of a state file; the error says what is wrong and where.
Result<std::vector<ServiceSpec>> ParseState(const std::string& content);

}  // namespace gravity::proxy
