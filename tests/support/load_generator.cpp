#include "support/load_generator.h"

#include <sstream>

namespace gravity::test {

namespace {
constexpr size_t kMaxFailureSamples = 20;
constexpr size_t kBodyPrefix = 256;
}  // namespace

std::set<std::string> LoadStats::InstanceSet() const {
  std::set<std::string> out;
  for (const auto& [k, v] : instances) out.insert(k);
  return out;
}

std::string LoadStats::Summary() const {
  std::ostringstream o;
  o << total << " requests: " << ok << " ok, " << failed << " failed";
  if (truncated) o << " (records truncated)";
  o << "\n  statuses:";
  for (const auto& [k, v] : statuses) o << " " << k << "=" << v;
  o << "\n  instances:";
  for (const auto& [k, v] : instances) o << " " << k << "=" << v;
  for (const auto& [k, v] : failures) o << "\n  failure x" << v << ": " << k;
  for (size_t i = 0; i < failure_samples.size() && i < 5; ++i) {
    const auto& f = failure_samples[i];
    o << "\n  sample: " << f.reason;
    if (!f.instance.empty()) o << " from " << f.instance;
    if (!f.body.empty()) o << " body '" << f.body.substr(0, 120) << "'";
  }
  return o.str();
}

LoadGenerator::LoadGenerator(LoadOptions options) : options_(std::move(options)) {}

LoadGenerator::~LoadGenerator() { Stop(); }

void LoadGenerator::Start() {
  std::lock_guard lock(join_mutex_);
  if (!threads_.empty()) return;
  stop_ = false;
  done_ = false;
  finished_ = 0;
  start_time_ = Now();
  int n = std::max(1, options_.connections);
  for (int i = 0; i < n; ++i) threads_.emplace_back([this, i] { Run(i); });
}

void LoadGenerator::Stop() {
  stop_ = true;
  Wait();
}

void LoadGenerator::Wait() {
  std::lock_guard lock(join_mutex_);
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
  done_ = true;
}

int LoadGenerator::Intern(const std::string& s) {
  auto it = string_ids_.find(s);
  if (it != string_ids_.end()) return it->second;
  int id = static_cast<int>(strings_.size());
  strings_.push_back(s);
  string_ids_.emplace(s, id);
  return id;
}

void LoadGenerator::Run(int index) {
  HttpClient client(options_.address, options_.port, options_.request_timeout);
  if (options_.tls) client.UseTls(*options_.tls);
  client.set_retry_stale(false);
  const auto end = options_.duration.count() > 0 ? start_time_ + options_.duration
                                                 : start_time_ + options_.max_run;
  const auto hard_end = start_time_ + options_.max_run;
  const auto& targets = options_.targets.empty() ? std::vector<std::string>{"/"} : options_.targets;
  size_t next_target = static_cast<size_t>(index) % targets.size();
  while (!stop_.load(std::memory_order_relaxed)) {
    auto now = Now();
    if (now >= end || now >= hard_end) break;
    if (options_.max_requests > 0 && started_.fetch_add(1) >= options_.max_requests) break;
    HttpRequest req;
    req.method = options_.method;
    req.target = targets[next_target];
    next_target = (next_target + 1) % targets.size();
    req.host = options_.host;
    req.headers = options_.headers;
    const auto start = Now();
    auto res = client.Send(req);
    std::string reason;
    bool connect_failed = false;
    if (!res.ok()) {
      reason = res.error();
      connect_failed = reason.rfind("connect to", 0) == 0;
    } else {
      bool good = options_.ok ? options_.ok(*res) : (res->status >= 200 && res->status < 400);
      if (!good) reason = "status " + std::to_string(res->status);
    }
    if (!options_.keep_alive) client.Close();
    {
      std::lock_guard lock(totals_mutex_);
      Record r;
      r.start = start;
      r.status = res.ok() ? res->status : 0;
      if (!reason.empty()) r.reason = Intern(reason);
      if (res.ok()) {
        r.instance = Intern(res->Instance());
        r.body = Intern(res->body.substr(0, kBodyPrefix));
      }
      Add(totals_, r);
      if (records_.size() < options_.max_records) {
        records_.push_back(r);
      } else {
        totals_.truncated = true;
      }
    }
    if (connect_failed) {
      // Refused connections fail instantly: pace them so a dead target is not a busy loop.
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (options_.pause_between_requests.count() > 0) {
      std::this_thread::sleep_for(options_.pause_between_requests);
    }
  }
  if (finished_.fetch_add(1) + 1 == std::max(1, options_.connections)) done_ = true;
}

void LoadGenerator::Add(LoadStats& stats, const Record& r) const {
  ++stats.total;
  if (r.status != 0) ++stats.statuses[r.status];
  if (r.reason < 0) {
    ++stats.ok;
    if (r.instance >= 0) ++stats.instances[strings_[r.instance]];
    if (r.body >= 0) ++stats.bodies[strings_[r.body]];
    return;
  }
  ++stats.failed;
  ++stats.failures[strings_[r.reason]];
  if (stats.failure_samples.size() < kMaxFailureSamples) {
    LoadFailure f;
    f.start = r.start;
    f.reason = strings_[r.reason];
    if (r.instance >= 0) f.instance = strings_[r.instance];
    if (r.body >= 0) f.body = strings_[r.body];
    stats.failure_samples.push_back(std::move(f));
  }
}

LoadStats LoadGenerator::Stats() const {
  std::lock_guard lock(totals_mutex_);
  return totals_;
}

LoadStats LoadGenerator::StatsSince(TimePoint since) const {
  std::lock_guard lock(totals_mutex_);
  LoadStats stats;
  stats.truncated = totals_.truncated;
  for (const auto& r : records_) {
    if (r.start >= since) Add(stats, r);
  }
  return stats;
}

std::set<std::string> LoadGenerator::InstancesSince(TimePoint since) const {
  return StatsSince(since).InstanceSet();
}

bool LoadGenerator::WaitForRequestsSince(TimePoint since, long count,
                                         std::chrono::milliseconds timeout) const {
  auto deadline = Now() + timeout;
  for (;;) {
    long n = 0;
    {
      std::lock_guard lock(totals_mutex_);
      // Records are appended roughly in start order: scan from the end.
      for (auto it = records_.rbegin(); it != records_.rend() && n < count; ++it) {
        if (it->start >= since)
          ++n;
        else if (it->start + options_.request_timeout + std::chrono::minutes(1) < since)
          break;
      }
    }
    if (n >= count) return true;
    if (Now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

}  // namespace gravity::test
