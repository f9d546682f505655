#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

namespace gravity::acme {

// When to renew a certificate valid from `not_before` to `not_after`: two thirds into its
// lifetime, minus a jitter of up to 1/30 of the lifetime taken from `random` (so many
// certificates issued together do not all renew in the same second). A 90-day certificate
// renews between day 57 and day 60. `random` comes from the caller: tests pass fixed values.
std::chrono::system_clock::time_point RenewAt(std::chrono::system_clock::time_point not_before,
                                              std::chrono::system_clock::time_point not_after,
                                              std::uint64_t random);

// The wait before retry `attempt` (1 = the first retry) of a failed issuance: 30 s doubling
// per attempt, capped at 1 h, and never shorter than the server's Retry-After.
std::chrono::seconds Backoff(int attempt, std::optional<std::chrono::seconds> retry_after);

}  // namespace gravity::acme
