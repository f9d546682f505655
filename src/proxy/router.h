#pragma once

// Request routing: Host (exact, "*.domain", "*" default) then longest path prefix.
// A prefix matches a path equal to it or continuing with '/' ("/api" matches "/api" and
// "/api/x", not "/apix"); "/" matches everything. Candidates are tried exact host first,
// then wildcards (longest suffix first), then "*": the first host entry with a matching
// prefix wins. Two services claiming the same host pattern and prefix is an error.
// Thread-safety: immutable after Build; Match may be called from any thread.

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace gravity::proxy {

struct RouteKey {
  std::string service;
  std::vector<std::string> hosts;  // normalized patterns
  std::string path_prefix;
};

class Router {
 public:
  Router() = default;
  // Builds the table; `routes[i]` matches as index i. Fails on a conflict, naming both.
  static Result<Router> Build(const std::vector<RouteKey>& routes);

  // Index of the matching route, or -1. `host` is the raw Host header (any case, maybe
  // with a port); `target` the request target (the query is ignored).
  int Match(std::string_view host, std::string_view target) const;

 private:
  struct Prefix {
    std::string prefix;
    int index;
  };
  struct HostEntry {
    std::string host;              // exact name, or the suffix ".domain" for wildcards
    std::vector<Prefix> prefixes;  // longest first
  };
  static int MatchPrefix(const HostEntry& e, std::string_view path);

  std::vector<HostEntry> exact_;
  std::vector<HostEntry> wildcard_;  // longest suffix first
  HostEntry default_;
};

}  // namespace gravity::proxy
