#include "proxy/balancer.h"

namespace gravity::proxy {

Target* Pick(const std::vector<std::shared_ptr<Target>>& targets, Balance balance,
             std::atomic<std::uint32_t>* cursor, const Target* exclude) {
  const std::size_t n = targets.size();
  if (n == 0) return nullptr;
  std::uint32_t start = cursor->fetch_add(1, std::memory_order_relaxed);
  if (balance == Balance::kRoundRobin) {
    for (std::size_t k = 0; k < n; ++k) {
      Target* t = targets[(start + k) % n].get();
      if (t != exclude && t->Routable()) return t;
    }
    return nullptr;
  }
  // Least outstanding: fewest in-flight requests; ties go round the list from the cursor.
  Target* best = nullptr;
  int best_load = 0;
  for (std::size_t k = 0; k < n; ++k) {
    Target* t = targets[(start + k) % n].get();
    if (t == exclude || !t->Routable()) continue;
    int load = t->inflight.load(std::memory_order_relaxed);
    if (!best || load < best_load) {
      best = t;
      best_load = load;
    }
  }
  return best;
}

}  // namespace gravity::proxy
