#pragma once

// The rules for single values of stack.yml: names, hosts, branches, environment variable
// names, repository locations, rates. Pure functions, no YAML. Internal to src/config
// (ParseListenAddress, in config.h, is built on these).

#include <string>
#include <string_view>

#include "common/status.h"

namespace gravity::config {

// App and environment names: lowercase letters, digits, '-' and '_', starting with a
// letter or digit, at most 63 characters. NameRule() says so in words.
bool ValidName(const std::string& s);
std::string NameRule();

// A DNS name: dot-separated labels of letters, digits and '-' (not at either end).
bool ValidHostName(std::string_view h);

// A route host: "*", "*.example.com" or an exact name. "" when valid, else why not.
std::string CheckRouteHost(const std::string& h);

// A git branch name (the rules of git check-ref-format). "" when valid, else why not.
std::string CheckBranch(const std::string& b);

// [A-Za-z_][A-Za-z0-9_]*
bool ValidEnvVarName(const std::string& s);

// A URL git fetches (scheme://... or scp-like user@host:path) rather than a local path.
bool IsRemoteUrl(const std::string& repo);

// `p` made absolute against `base_dir` and normalized, without a trailing '/'.
std::string Resolve(const std::string& base_dir, const std::string& p);

// "1%" or "0.01": a share between 0 and 1.
Result<double> ParseRate(const std::string& s);

// A numeric IPv4 (or, with `v6`, IPv6) address.
bool ValidIp(const std::string& h, bool v6);

}  // namespace gravity::config
