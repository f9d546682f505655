#include "deploy/proxy_control.h"

#include <algorithm>
#include <cmath>

#include "common/latency_bins.h"

namespace gravity::deploy {

std::uint64_t PoolRequests::LatencyCount() const {
  std::uint64_t n = 0;
  for (auto v : latency) n += v;
  return n;
}

double PoolRequests::QuantileMs(double q) const {
  const std::uint64_t n = LatencyCount();
  if (n == 0) return 0;
  const auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(n)));
  std::uint64_t seen = 0;
  for (std::size_t b = 0; b < latency.size(); ++b) {
    seen += latency[b];
    if (seen >= std::max<std::uint64_t>(rank, 1)) return latency::BinMiddle(b) / 1000.0;
  }
  return latency::BinMiddle(latency.size() - 1) / 1000.0;
}

PoolRequests PoolRequests::Since(const PoolRequests& base) const {
  bool restarted = total < base.total || errors_5xx < base.errors_5xx ||
                   errors_4xx < base.errors_4xx || latency.size() < base.latency.size();
  for (std::size_t b = 0; !restarted && b < base.latency.size(); ++b) {
    restarted = latency[b] < base.latency[b];
  }
  if (restarted) return *this;
  PoolRequests d;
  d.total = total - base.total;
  d.errors_5xx = errors_5xx - base.errors_5xx;
  d.errors_4xx = errors_4xx - base.errors_4xx;
  d.latency = latency;
  for (std::size_t b = 0; b < base.latency.size(); ++b) d.latency[b] -= base.latency[b];
  return d;
}


Result<bool> ProxyControl::DeployInProgress(const std::string&) { return false; }
Result<ProxyDeployOutcome> ProxyControl::DeployCanary(const ProxyRoute&, int) {
  return Status::Error("this proxy control has no canary support");
}
Status ProxyControl::PromoteCanary(const std::string&) {
  return Status::Error("this proxy control has no canary support");
}
Status ProxyControl::SetCanaryWeight(const std::string&, int) {
  return Status::Error("this proxy control has no canary support");
}
Status ProxyControl::DropCanary(const std::string&) { return Status::Ok(); }
Result<std::optional<ProxyService>> ProxyControl::Service(const std::string&) {
  return Status::Error("this proxy control has no canary support");
}

}  // namespace gravity::deploy
