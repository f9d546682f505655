#pragma once

// Where a request goes: the service its host and path match, the pool the canary split
// gives it, and the target the balancer picks (the main pool when the canary has none).
// Shared by the HTTP/1.1 session and HTTP/2 streams.
// Thread-safety: a pure function over an immutable table (the pool cursors are atomics).

#include <cstdint>
#include <string_view>

#include "proxy/route_table.h"

namespace gravity::proxy {

struct RouteChoice {
  const ServiceSnapshot* service = nullptr;  // null: no route (404)
  const PoolSnapshot* pool = nullptr;
  const char* pool_name = "main";
  int set_cookie_bucket = -1;
  Target* target = nullptr;  // null with a service: no healthy target (503)
};

// `candidate`: the request's X-Gravity-Candidate header (empty when absent). Present, the
// request goes to the canary pool (named "candidate") when it equals the service's
// candidate token, and to no target at all (503) otherwise.
RouteChoice ChooseRoute(const RouteTable& table, std::string_view host, std::string_view path,
                        int cookie_bucket, std::uint64_t random, Balance balance,
                        std::string_view candidate = {});

}  // namespace gravity::proxy
