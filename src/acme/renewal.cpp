#include "acme/renewal.h"

#include <algorithm>

namespace gravity::acme {

using std::chrono::seconds;

std::chrono::system_clock::time_point RenewAt(std::chrono::system_clock::time_point not_before,
                                              std::chrono::system_clock::time_point not_after,
                                              std::uint64_t random) {
  if (not_after <= not_before) return not_before;  // nonsense validity: renew at once
  auto lifetime = std::chrono::duration_cast<seconds>(not_after - not_before);
  auto max_jitter = lifetime / 30;
  auto jitter = max_jitter.count() > 0
                    ? seconds(static_cast<seconds::rep>(
                          random % static_cast<std::uint64_t>(max_jitter.count() + 1)))
                    : seconds(0);
  return not_before + lifetime * 2 / 3 - jitter;
}

seconds Backoff(int attempt, std::optional<seconds> retry_after) {
  constexpr seconds kFirst(30);
  constexpr seconds kCap(3600);
  seconds wait = kFirst;
  for (int i = 1; i < attempt && wait < kCap; ++i) wait *= 2;
  wait = std::min(wait, kCap);
  if (retry_after) wait = std::max(wait, *retry_after);
  return wait;
}

}  // namespace gravity::acme
