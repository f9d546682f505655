#pragma once

// The canary: section of a stack.yml environment (docs/config.md "canary"): the steps and
// their shorthand, the verdict's thresholds and scores, no_traffic, the baseline pool and
// the metric checks against Prometheus. Internal to src/config.

#include <string>

#include "config/checker.h"
#include "config/spec.h"

namespace gravity::config {

// Reads the canary section `section` (at `where`, "apps.web.environments.prod.canary")
// into `out`, and checks its fields against each other. `section` is a mapping (or null).
void ParseCanary(Checker& c, const Entry& section, const std::string& where, CanarySpec& out);

}  // namespace gravity::config
