#pragma once

// Counts a request (an HTTP/1.1 request or an HTTP/2 stream) against a target and a pool
// while it runs: the balancer reads the target's count, and a drain waits for the pool's.
// Thread-safety: a value owned by one request on one worker thread (the counts are atomics).

#include <atomic>

#include "proxy/balancer.h"
#include "proxy/metrics.h"

namespace gravity::proxy {

class Inflight {
 public:
  Inflight() = default;
  Inflight(const Inflight&) = delete;
  Inflight& operator=(const Inflight&) = delete;
  ~Inflight() { Set(nullptr, nullptr); }
  void Set(Target* t, PoolStats* p) {
    if (target_) target_->inflight.fetch_sub(1, std::memory_order_relaxed);
    if (pool_) pool_->inflight.fetch_sub(1, std::memory_order_relaxed);
    target_ = t;
    pool_ = p;
    if (target_) target_->inflight.fetch_add(1, std::memory_order_relaxed);
    if (pool_) pool_->inflight.fetch_add(1, std::memory_order_relaxed);
  }

 private:
  Target* target_ = nullptr;
  PoolStats* pool_ = nullptr;
};

}  // namespace gravity::proxy
