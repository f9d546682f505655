#pragma once

// The checks of stack.yml that span sections, run once every section is read: each
// promote_from names another environment and its chain reaches a branch; each host routes
// to one environment across all apps; the proxy, admin and metrics listeners differ and
// the instance port range avoids them. Internal to src/config.

#include <yaml-cpp/yaml.h>

#include <map>
#include <string>
#include <vector>

#include "config/checker.h"
#include "config/spec.h"

namespace gravity::config {

// Positions of an environment's fields, for the checks that run after parsing.
struct EnvMarks {
  YAML::Mark name;
  YAML::Mark host;
  YAML::Mark promote_from;
  YAML::Mark strategy;
  bool host_given = false;
  bool canary_given = false;
  YAML::Mark canary;
  YAML::Mark tls;   // where tls: / hsts: were written (valid when not off / not zero)
  YAML::Mark hsts;
};

// Positions of the whole file's fields, for the checks that span sections.
struct StackMarks {
  std::map<std::string, YAML::Mark> listen;  // "proxy.listen" -> its value
  std::vector<std::vector<EnvMarks>> envs;   // [app][environment], as in StackSpec::apps
  YAML::Mark ports;
  bool have_ports = false;
};

// Reports every cross-section problem of `stack` at the positions in `marks`.
void CheckStack(Checker& c, const StackSpec& stack, const StackMarks& marks);

}  // namespace gravity::config
