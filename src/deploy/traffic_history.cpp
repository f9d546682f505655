#include "deploy/traffic_history.h"

#include <algorithm>
#include <set>

#include "deploy/deployer.h"

namespace gravity::deploy {

double TrafficPoint::RequestsPerSecond() const {
  return seconds > 0 ? static_cast<double>(requests) / seconds : 0;
}

double TrafficPoint::ErrorRate() const {
  return requests > 0 ? static_cast<double>(errors_5xx) / static_cast<double>(requests) : 0;
}

std::vector<std::pair<std::string, PoolRequests>> PoolsOf(const ProxyService& service) {
  std::vector<std::pair<std::string, PoolRequests>> pools;
  pools.emplace_back("main", service.main_requests);
  if (service.has_canary) pools.emplace_back("canary", service.canary_requests);
  if (service.has_baseline) pools.emplace_back("baseline", service.baseline_requests);
  return pools;
}

TrafficHistory::TrafficHistory(ProxyControl& proxy, Clock& clock, Options options)
    : proxy_(proxy), clock_(clock), options_(options) {}

TrafficHistory::~TrafficHistory() { Stop(); }

void TrafficHistory::SetStack(const config::StackSpec& stack) {
  MutexLock lock(mutex_);
  stack_envs_.clear();
  std::set<Key> keep;
  for (const auto& app : stack.apps) {
    auto& envs = stack_envs_[app.name];
    for (const auto& env : app.environments) {
      envs.push_back(env.name);
      keep.emplace(app.name, env.name);
    }
  }
  std::erase_if(environments_, [&keep](const auto& e) { return !keep.count(e.first); });
}

void TrafficHistory::Sample() {
  std::vector<Key> keys;
  {
    MutexLock lock(mutex_);
    for (const auto& [app, envs] : stack_envs_) {
      for (const auto& env : envs) keys.emplace_back(app, env);
    }
  }
  for (const Key& key : keys) {
    auto service = proxy_.Service(Deployer::ServiceName(key.first, key.second));
    if (!service.ok()) continue;  // the proxy is restarting: the next point covers the gap
    std::vector<std::pair<std::string, PoolRequests>> pools;
    if (*service) pools = PoolsOf(**service);
    Record(key, pools, clock_.Now());
  }
}

void TrafficHistory::Record(const Key& key,
                            const std::vector<std::pair<std::string, PoolRequests>>& pools,
                            Clock::TimePoint at) {
  MutexLock lock(mutex_);
  auto app = stack_envs_.find(key.first);
  if (app == stack_envs_.end() ||
      std::find(app->second.begin(), app->second.end(), key.second) == app->second.end()) {
    return;  // removed from the stack while the proxy was asked
  }
  Environment& env = environments_[key];
  // A pool the proxy no longer has (a canary that ended) keeps its points, but a later pool
  // of that name starts from a new base.
  for (auto& entry : env.pools) {
    const std::string& name = entry.first;
    bool present = std::any_of(pools.begin(), pools.end(),
                               [&name](const auto& p) { return p.first == name; });
    if (!present) entry.second.base_at.reset();
  }
  for (const auto& [name, reading] : pools) Append(env.pools[name], reading, at);
}

void TrafficHistory::Append(Pool& pool, const PoolRequests& reading, Clock::TimePoint at) {
  const std::optional<Clock::TimePoint> from = pool.base_at;
  const PoolRequests base = pool.base;
  pool.base = reading;
  pool.base_at = at;
  if (!from || at <= *from) return;  // the first reading: a base only
  const PoolRequests d = reading.Since(base);  // a restarted proxy: what it answered since
  TrafficPoint p;
  p.t_ms = clock_.WallMs();
  p.seconds = std::chrono::duration<double>(at - *from).count();
  p.requests = d.total;
  p.errors_5xx = d.errors_5xx;
  p.errors_4xx = d.errors_4xx;
  p.p50_ms = d.QuantileMs(0.5);
  p.p99_ms = d.QuantileMs(0.99);
  if (pool.ring.size() < options_.points) {
    pool.ring.push_back(p);
  } else {
    pool.ring[pool.next] = p;
    pool.next = (pool.next + 1) % options_.points;
  }
}

Result<std::vector<TrafficSeries>> TrafficHistory::Series(const std::string& app,
                                                           const std::string& env) const {
  MutexLock lock(mutex_);
  auto a = stack_envs_.find(app);
  if (a == stack_envs_.end()) return Status::NotFound("no app '" + app + "' in the stack");
  if (std::find(a->second.begin(), a->second.end(), env) == a->second.end()) {
    return Status::NotFound("app '" + app + "' has no environment '" + env + "'");
  }
  std::vector<TrafficSeries> out;
  auto e = environments_.find(Key(app, env));
  if (e == environments_.end()) return out;
  for (const auto& [name, pool] : e->second.pools) {
    TrafficSeries s;
    s.pool = name;
    // Oldest first: from `next` around the ring.
    for (std::size_t i = 0; i < pool.ring.size(); ++i) {
      s.points.push_back(pool.ring[(pool.next + i) % pool.ring.size()]);
    }
    out.push_back(std::move(s));
  }
  // main first, the others by name.
  std::stable_partition(out.begin(), out.end(), [](const auto& s) { return s.pool == "main"; });
  return out;
}

void TrafficHistory::Start() {
  MutexLock lock(thread_mutex_);
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] { Loop(); });
}

void TrafficHistory::Stop() {
  {
    MutexLock lock(thread_mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void TrafficHistory::Loop() {
  using std::chrono::milliseconds;
  Clock::TimePoint next = clock_.Now();  // a first reading at once: the base
  while (true) {
    if (clock_.Now() >= next) {
      Sample();
      // On the grid of the resolution; a tick that came late skips the missed ones.
      next += options_.resolution;
      if (next <= clock_.Now()) next = clock_.Now() + options_.resolution;
    }
    MutexLock lock(thread_mutex_);
    if (stop_) return;
    // The clock decides when a tick is due; the wait is at most one resolution.
    auto left = std::chrono::duration_cast<milliseconds>(next - clock_.Now());
    thread_mutex_.WaitFor(cv_, std::clamp(left, milliseconds(1), options_.resolution));
    if (stop_) return;
  }
}

}  // namespace gravity::deploy
