#pragma once

// Which pool of a service serves a request: the canary's share of clients, sticky per
// client by the "gravity_bucket" cookie (a bucket 0-99; buckets below the canary weight go
// to the canary; with a baseline pool, the next as many go to the baseline). A client without the cookie gets a random bucket and the cookie with the
// response, so requests without a cookie are split by weight too.
// Thread-safety: pure functions.

#include <cstdint>
#include <string>

#include "common/http1.h"
#include "proxy/route_table.h"

namespace gravity::proxy {

// The bucket from the request's "gravity_bucket" cookie, or -1 when there is none (or it
// is not a number below 100).
int CookieBucket(const http1::RequestHead& head);

struct PoolChoice {
  const PoolSnapshot* pool = nullptr;
  const char* name = "main";  // "main" | "canary" | "baseline"
  int set_cookie_bucket = -1;  // >= 0: the response sets the cookie to this bucket
};

// The X-Gravity-Candidate header's value (the deployer's verify step), or empty.
std::string_view CandidateHeader(const http1::RequestHead& head);

// The Set-Cookie value that keeps a client in `bucket`.
std::string CanaryCookie(int bucket);

// The pool for a request with `cookie_bucket` (-1: none; then `random` picks one).
PoolChoice ChoosePool(const ServiceSnapshot& service, int cookie_bucket, std::uint64_t random);

}  // namespace gravity::proxy
