#pragma once

// Per service and pool request statistics, rendered in the Prometheus text format.
// Thread-safety: PoolStats is updated by all worker threads with relaxed atomics and read
// by the control thread when rendering; values are eventually consistent.

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "common/latency_bins.h"

namespace gravity::proxy {

inline constexpr std::array<double, 11> kLatencyBuckets = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                           0.25,  0.5,   1,    2.5,   10};

struct PoolStats {
  void Record(int status, std::uint64_t micros, std::uint64_t bytes);

  std::array<std::atomic<std::uint64_t>, 5> by_class{};                      // 1xx .. 5xx
  std::array<std::atomic<std::uint64_t>, kLatencyBuckets.size()> buckets{};  // non-cumulative
  // The same latencies in the fine bins of common/latency_bins.h (for the canary judge's
  // rank test; not rendered in /metrics).
  std::array<std::atomic<std::uint64_t>, latency::kBins> fine{};
  std::atomic<std::uint64_t> count{0};
  std::atomic<std::uint64_t> sum_micros{0};
  std::atomic<std::uint64_t> bytes{0};
  std::atomic<std::int64_t> inflight{0};
};

struct PoolMetrics {
  std::string service;
  std::string pool;  // "main" | "canary"
  const PoolStats* stats;
};
struct TargetMetrics {
  std::string service;
  std::string pool;
  std::string target;
  std::string state;  // healthy | unhealthy | unknown | draining
  bool healthy;
};

std::string RenderMetrics(const std::vector<PoolMetrics>& pools,
                          const std::vector<TargetMetrics>& targets);

}  // namespace gravity::proxy
