#pragma once

// Turns the text of a gravity.yml or stack.yml into its root mapping, reporting what
// yaml-cpp cannot parse as `FILE:LINE:COL: invalid YAML: ...`. Internal to src/config.

#include <yaml-cpp/yaml.h>

#include <string_view>

#include "config/checker.h"

namespace gravity::config {

// Parses `text` (at most kMaxFileBytes, exactly one YAML document whose top is a mapping)
// into `root`. Returns false, with the problem reported to `c`, otherwise.
bool LoadRoot(Checker& c, std::string_view text, YAML::Node& root);

}  // namespace gravity::config
