#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "common/thread_annotations.h"
#include "config/spec.h"
#include "deploy/proxy_control.h"

namespace gravity::deploy {

// One interval of one pool's traffic: what the proxy answered between two readings.
struct TrafficPoint {
  std::int64_t t_ms = 0;     // wall clock at the end of the interval (ms since the epoch)
  double seconds = 0;        // the interval's length (one resolution, longer after a gap)
  std::uint64_t requests = 0;
  std::uint64_t errors_5xx = 0;
  std::uint64_t errors_4xx = 0;
  double p50_ms = 0;  // of this interval's requests; 0 without requests
  double p99_ms = 0;

  double RequestsPerSecond() const;
  double ErrorRate() const;  // the 5xx share of the requests; 0 without requests
};

// A pool's points, oldest first.
struct TrafficSeries {
  std::string pool;  // main | canary
  std::vector<TrafficPoint> points;
};

// The last hour of the proxy's traffic per environment and pool, kept by the daemon (no
// Prometheus needed): every `resolution` the sampler reads each environment's pools from
// the proxy (ProxyControl::Service) and stores the difference to the previous reading as
// one point in a fixed ring per pool (`points` entries: memory is bounded). Quantiles
// come from the difference of the cumulative latency bins (PoolRequests::Since). Counters
// that went down (the proxy restarted) start a new base: the interval counts what the new
// proxy answered, never a negative or wrapped value. A reading that fails (proxy down)
// adds no point; the next one covers the whole gap.
//
// Thread-safety: every public member may be called from any thread. mutex_ guards the
// environments and their rings; thread_mutex_ the sampler thread's stop flag. Sample()
// asks the proxy without holding mutex_.
class TrafficHistory {
 public:
  struct Options {
    std::chrono::milliseconds resolution = std::chrono::seconds(10);
    std::size_t points = 360;  // per pool: 360 x 10 s = 1 hour
  };
  TrafficHistory(ProxyControl& proxy, Clock& clock, Options options);
  ~TrafficHistory();
  TrafficHistory(const TrafficHistory&) = delete;
  TrafficHistory& operator=(const TrafficHistory&) = delete;

  // The environments to sample; those no longer in `stack` lose their history.
  void SetStack(const config::StackSpec& stack) EXCLUDES(mutex_);
  // One sampling step over every environment (the sampler thread's tick; tests call it).
  void Sample() EXCLUDES(mutex_);
  // The thread that calls Sample() every resolution of the injected clock.
  void Start() EXCLUDES(thread_mutex_);
  void Stop() EXCLUDES(thread_mutex_);

  // The pools' series of `app`/`env`, main first; NotFound naming the app or environment
  // when the stack has no such one.
  Result<std::vector<TrafficSeries>> Series(const std::string& app, const std::string& env) const
      EXCLUDES(mutex_);
  std::chrono::milliseconds resolution() const { return options_.resolution; }
  std::size_t capacity() const { return options_.points; }

 private:
  // A fixed ring of points and the reading the next point is measured from.
  struct Pool {
    std::vector<TrafficPoint> ring;  // capacity() entries once full
    std::size_t next = 0;            // where the next point goes once full
    PoolRequests base;
    std::optional<Clock::TimePoint> base_at;  // none: the next reading is a new base
  };
  struct Environment {
    std::map<std::string, Pool> pools;  // pool name -> ring
  };
  using Key = std::pair<std::string, std::string>;  // app, env

  void Record(const Key& key, const std::vector<std::pair<std::string, PoolRequests>>& pools,
              Clock::TimePoint at) EXCLUDES(mutex_);
  void Append(Pool& pool, const PoolRequests& reading, Clock::TimePoint at) REQUIRES(mutex_);
  void Loop() EXCLUDES(thread_mutex_);

  // Immutable after construction.
  ProxyControl& proxy_;
  Clock& clock_;
  const Options options_;

  mutable Mutex mutex_;
  std::map<std::string, std::vector<std::string>> stack_envs_ GUARDED_BY(mutex_);  // app -> envs
  std::map<Key, Environment> environments_ GUARDED_BY(mutex_);

  Mutex thread_mutex_;
  std::condition_variable cv_;
  bool stop_ GUARDED_BY(thread_mutex_) = false;
  std::thread thread_;  // started and joined by the caller of Start/Stop
};

// The pools of a proxy service by name: main, and canary while there is one.
std::vector<std::pair<std::string, PoolRequests>> PoolsOf(const ProxyService& service);

}  // namespace gravity::deploy
