#pragma once

#include <string>

#include "common/status.h"

namespace gravity::daemon {

// The API's bearer token: 64 hex characters in a file of mode 0600. The daemon makes it
// on first start and keeps it across restarts; CLI commands read it.
//
// Returns the token in `path` (trimmed, made 0600) when it is long enough, else writes a
// new random one.
Result<std::string> LoadOrMakeToken(const std::string& path);
// The token in `path`, trimmed; "" when there is none (yet).
std::string ReadToken(const std::string& path);
// `text` without trailing newlines, carriage returns and spaces.
std::string TrimToken(std::string text);

}  // namespace gravity::daemon
