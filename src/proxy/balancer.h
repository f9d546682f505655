#pragma once

// Targets and the choice among them.
// Thread-safety: Target's atomics are read and written by every worker thread and the
// control thread; its other members are immutable after construction. Pick is safe to call
// concurrently (the round-robin cursor is an atomic).

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "proxy/config.h"

namespace gravity::proxy {

struct Target {
  Target(std::uint64_t id_in, Address address_in) : id(id_in), address(std::move(address_in)) {}
  bool Routable() const {
    return healthy.load(std::memory_order_relaxed) && !draining.load(std::memory_order_relaxed);
  }

  const std::uint64_t id;  // unique for the life of the process
  const Address address;
  std::atomic<bool> healthy{false};   // set by the health checker
  std::atomic<bool> draining{false};  // operator state: out of traffic, finishing in-flight
  std::atomic<bool> retired{false};   // drained: close connections instead of pooling
  std::atomic<int> inflight{0};       // requests currently assigned to it
};

enum class Balance { kRoundRobin, kLeastOutstanding };

// A routable target other than `exclude`, or nullptr when there is none.
Target* Pick(const std::vector<std::shared_ptr<Target>>& targets, Balance balance,
             std::atomic<std::uint32_t>* cursor, const Target* exclude = nullptr);

}  // namespace gravity::proxy
