#include "proxy/route_choice.h"

#include "proxy/canary_split.h"

namespace gravity::proxy {

namespace {

// Equal in time independent of where they differ (the token is a secret of the deploy).
bool SameToken(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  }
  return diff == 0;
}

}  // namespace

RouteChoice ChooseRoute(const RouteTable& table, std::string_view host, std::string_view path,
                        int cookie_bucket, std::uint64_t random, Balance balance,
                        std::string_view candidate) {
  RouteChoice c;
  const int route = table.router.Match(host, path);
  if (route < 0) return c;
  c.service = table.services[route].get();
  if (!candidate.empty()) {
    // A verify step's request: the candidate slot or nothing (503), never the main pool —
    // a wrong or stale token (a proxy restarted during the verify keeps no token) must not
    // let the checks pass against the live release.
    c.pool_name = "candidate";
    if (c.service->canary && !c.service->candidate_token.empty() &&
        SameToken(candidate, c.service->candidate_token)) {
      c.pool = c.service->canary.get();
      c.target = Pick(c.pool->targets, balance, &c.pool->cursor);
    } else {
      c.pool = c.service->main.get();  // for the statistics; no target is chosen
    }
    return c;
  }
  PoolChoice choice = ChoosePool(*c.service, cookie_bucket, random);
  c.pool = choice.pool;
  c.pool_name = choice.name;
  c.set_cookie_bucket = choice.set_cookie_bucket;
  c.target = Pick(c.pool->targets, balance, &c.pool->cursor);
  if (!c.target && c.pool != c.service->main.get()) {  // no canary target: main serves
    c.pool = c.service->main.get();
    c.pool_name = "main";
    c.target = Pick(c.pool->targets, balance, &c.pool->cursor);
  }
  return c;
}

}  // namespace gravity::proxy
