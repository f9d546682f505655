#include "proxy/metrics.h"

#include <fmt/format.h>

namespace gravity::proxy {

void PoolStats::Record(int status, std::uint64_t micros, std::uint64_t body_bytes) {
  int cls = status / 100 - 1;
  if (cls < 0) cls = 0;
  if (cls > 4) cls = 4;
  by_class[cls].fetch_add(1, std::memory_order_relaxed);
  double seconds = static_cast<double>(micros) / 1e6;
  for (std::size_t i = 0; i < kLatencyBuckets.size(); ++i) {
    if (seconds <= kLatencyBuckets[i]) {
      buckets[i].fetch_add(1, std::memory_order_relaxed);
      break;
    }
  }
  fine[latency::BinOf(micros)].fetch_add(1, std::memory_order_relaxed);
  count.fetch_add(1, std::memory_order_relaxed);
  sum_micros.fetch_add(micros, std::memory_order_relaxed);
  bytes.fetch_add(body_bytes, std::memory_order_relaxed);
}

std::string RenderMetrics(const std::vector<PoolMetrics>& pools,
                          const std::vector<TargetMetrics>& targets) {
  std::string out;
  auto labels = [](const std::string& s, const std::string& p) {
    return fmt::format("service=\"{}\",pool=\"{}\"", s, p);
  };
  out += "# HELP gravity_proxy_requests_total Requests answered, by status class.\n";
  out += "# TYPE gravity_proxy_requests_total counter\n";
  for (const auto& p : pools) {
    for (int c = 0; c < 5; ++c) {
      out += fmt::format("gravity_proxy_requests_total{{{},code=\"{}xx\"}} {}\n",
                         labels(p.service, p.pool), c + 1,
                         p.stats->by_class[c].load(std::memory_order_relaxed));
    }
  }
  out += "# HELP gravity_proxy_request_duration_seconds Time from request head to response end.\n";
  out += "# TYPE gravity_proxy_request_duration_seconds histogram\n";
  for (const auto& p : pools) {
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < kLatencyBuckets.size(); ++i) {
      cumulative += p.stats->buckets[i].load(std::memory_order_relaxed);
      out += fmt::format("gravity_proxy_request_duration_seconds_bucket{{{},le=\"{}\"}} {}\n",
                         labels(p.service, p.pool), kLatencyBuckets[i], cumulative);
    }
    std::uint64_t count = p.stats->count.load(std::memory_order_relaxed);
    out += fmt::format("gravity_proxy_request_duration_seconds_bucket{{{},le=\"+Inf\"}} {}\n",
                       labels(p.service, p.pool), count);
    out += fmt::format(
        "gravity_proxy_request_duration_seconds_sum{{{}}} {:.6f}\n", labels(p.service, p.pool),
        static_cast<double>(p.stats->sum_micros.load(std::memory_order_relaxed)) / 1e6);
    out += fmt::format("gravity_proxy_request_duration_seconds_count{{{}}} {}\n",
                       labels(p.service, p.pool), count);
  }
  out += "# HELP gravity_proxy_response_bytes_total Response body bytes sent to clients.\n";
  out += "# TYPE gravity_proxy_response_bytes_total counter\n";
  for (const auto& p : pools) {
    out += fmt::format("gravity_proxy_response_bytes_total{{{}}} {}\n", labels(p.service, p.pool),
                       p.stats->bytes.load(std::memory_order_relaxed));
  }
  out += "# HELP gravity_proxy_requests_in_flight Requests being proxied now.\n";
  out += "# TYPE gravity_proxy_requests_in_flight gauge\n";
  for (const auto& p : pools) {
    out += fmt::format("gravity_proxy_requests_in_flight{{{}}} {}\n", labels(p.service, p.pool),
                       p.stats->inflight.load(std::memory_order_relaxed));
  }
  out += "# HELP gravity_proxy_target_healthy 1 when the target passes its health checks.\n";
  out += "# TYPE gravity_proxy_target_healthy gauge\n";
  for (const auto& t : targets) {
    out += fmt::format("gravity_proxy_target_healthy{{{},target=\"{}\",state=\"{}\"}} {}\n",
                       labels(t.service, t.pool), t.target, t.state, t.healthy ? 1 : 0);
  }
  return out;
}

}  // namespace gravity::proxy
