#pragma once

// The apps: section of stack.yml (stack_apps.cpp). Internal to src/config.

#include <string>

#include "config/checker.h"
#include "config/spec.h"
#include "config/stack_checks.h"

namespace gravity::config {

// Reads `e` (the apps: mapping) into stack.apps, and each environment's positions into
// marks.envs (one list per app, in the same order). Errors go to `c`.
void ParseApps(Checker& c, const Entry& e, const std::string& base_dir, StackSpec& stack,
               StackMarks& marks);

}  // namespace gravity::config
