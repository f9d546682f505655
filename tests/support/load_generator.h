#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "support/http_client.h"

namespace gravity::test {

struct LoadOptions {
  std::string address = "127.0.0.1";
  int port = 0;
  std::string host;                          // Host header; empty: address:port
  std::vector<std::string> targets = {"/"};  // each connection cycles through these
  std::string method = "GET";
  HttpHeaders headers;
  std::optional<TlsClientOptions> tls;  // HTTPS with these options
  int connections = 16;  // each one a thread with one keep-alive connection
  // Stops by itself after `duration` (0: runs until Stop()) or after `max_requests` requests
  // in all (0: no limit). A safety bound of `max_run` always applies.
  std::chrono::milliseconds duration{0};
  long max_requests = 0;
  std::chrono::milliseconds max_run = std::chrono::minutes(10);
  std::chrono::milliseconds request_timeout = std::chrono::seconds(15);
  std::chrono::milliseconds pause_between_requests{0};  // per connection
  // false: a new connection for every request.
  bool keep_alive = true;
  // Which responses count as ok; default: status 200-399.
  std::function<bool(const HttpResponse&)> ok;
  // Per-request records kept for the *Since() queries; beyond this only totals grow.
  size_t max_records = 4'000'000;
};

// One failed request, for the failure samples.
struct LoadFailure {
  std::chrono::steady_clock::time_point start;
  std::string reason;    // "status 503", "connect to 127.0.0.1:80: Connection refused", ...
  std::string instance;  // X-Instance of the response, if any
  std::string body;      // first bytes of the response body, if any
};

struct LoadStats {
  long total = 0;  // requests finished (ok + failed)
  long ok = 0;
  long failed = 0;
  std::map<int, long> statuses;              // every response received, by status
  std::map<std::string, long> failures;      // reason -> count
  std::map<std::string, long> instances;     // X-Instance -> count, ok responses only
  std::map<std::string, long> bodies;        // first 256 bytes of body -> count, ok responses
  std::vector<LoadFailure> failure_samples;  // the first few failures
  bool truncated = false;                    // *Since() statistics miss requests beyond max_records

  // A few lines: totals, statuses, failure reasons, instances. For test failure messages.
  std::string Summary() const;
  std::set<std::string> InstanceSet() const;
};

// Steady HTTP load on loopback: N threads, each with one blocking keep-alive connection,
// sending requests back to back and recording each outcome (ok, status, error reason) and
// which X-Instance answered, with the time the request started. A failed request is never
// retried (a test of "0 failed requests" sees every failure); the connection is reopened
// for the next one. Thread-safe: Stats() and the *Since() queries may be called from any
// thread while the load runs.
class LoadGenerator {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  explicit LoadGenerator(LoadOptions options);
  ~LoadGenerator();  // stops and joins
  LoadGenerator(const LoadGenerator&) = delete;
  LoadGenerator& operator=(const LoadGenerator&) = delete;

  void Start();
  // Asks every connection to stop after its current request and joins the threads.
  void Stop();
  // Waits until the load stops by itself (duration, max_requests or max_run).
  void Wait();
  bool running() const { return !done_.load(); }

  static TimePoint Now() { return std::chrono::steady_clock::now(); }

  LoadStats Stats() const;
  // Statistics over the requests that started at or after `since`.
  LoadStats StatsSince(TimePoint since) const;
  // The X-Instance values of ok responses to requests started at or after `since`.
  std::set<std::string> InstancesSince(TimePoint since) const;
  // Waits until at least `count` requests that started at or after `since` have finished.
  bool WaitForRequestsSince(TimePoint since, long count, std::chrono::milliseconds timeout) const;

 private:
  struct Record {
    TimePoint start;
    int status;       // 0: no response
    int reason = -1;  // index into strings_, -1: ok
    int instance = -1;
    int body = -1;
  };
  void Run(int index);
  int Intern(const std::string& s);
  // Adds one request to `stats`; strings_ must be guarded by the caller.
  void Add(LoadStats& stats, const Record& r) const;

  const LoadOptions options_;
  std::mutex join_mutex_;
  std::vector<std::thread> threads_;  // guarded by join_mutex_
  std::atomic<bool> stop_{false};
  std::atomic<bool> done_{true};
  std::atomic<long> started_{0};   // requests started, for max_requests
  std::atomic<long> finished_{0};  // threads finished
  TimePoint start_time_;

  mutable std::mutex totals_mutex_;
  LoadStats totals_;                       // guarded by totals_mutex_
  std::vector<Record> records_;            // guarded by totals_mutex_
  std::vector<std::string> strings_;       // guarded by totals_mutex_
  std::map<std::string, int> string_ids_;  // guarded by totals_mutex_
};

}  // namespace gravity::test
