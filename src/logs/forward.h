#pragma once

// Shipping log lines elsewhere (stack.yml logs.forward): syslog (RFC 5424; TCP with octet
// counting, RFC 6587, or UDP), the Loki push API, or a JSON-lines file. Each destination
// has its own bounded queue and thread: a slow or absent receiver never slows ingest; it
// gets what was queued once it is back (oldest lines dropped and counted when the queue
// is full).

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "common/thread_annotations.h"
#include "logs/entry.h"

namespace gravity::logs {

struct Destination {
  enum class Kind { kSyslogTcp, kSyslogUdp, kLoki, kFile };
  Kind kind = Kind::kFile;
  std::string host;  // syslog, loki
  std::uint16_t port = 0;
  std::string path;  // file: the file; loki: the URL's path prefix ("" or "/base")
  std::string Describe() const;  // "syslog tcp://h:514", "loki http://h:3100", "file F"
};

// One RFC 5424 message (no framing): <PRI>1 TIME HOST APP - SOURCE [gravity@32473 ...] MSG
std::string SyslogMessage(const Entry& e, const std::string& hostname);
// The Loki push body for `lines`: one stream per (app, env, release, source).
std::string LokiPushBody(const std::vector<Entry>& lines);

// Thread-safe: Offer from any thread.
class Forwarder {
 public:
  Forwarder(Destination d, Clock& clock, std::size_t max_queue = 100000);
  ~Forwarder();
  Forwarder(const Forwarder&) = delete;
  Forwarder& operator=(const Forwarder&) = delete;

  void Start();
  void Stop() EXCLUDES(mu_);
  // Queues lines; never blocks on the destination.
  void Offer(const std::vector<Entry>& lines) EXCLUDES(mu_);

  std::uint64_t sent() const EXCLUDES(mu_);
  std::uint64_t dropped() const EXCLUDES(mu_);  // queue full: oldest lines let go
  std::size_t queued() const EXCLUDES(mu_);
  std::string last_error() const EXCLUDES(mu_);

 private:
  void Loop() EXCLUDES(mu_);
  Status Send(const std::vector<Entry>& batch);
  Status SendTcp(const std::string& bytes);
  Status SendUdp(const std::vector<Entry>& batch);
  Status SendLoki(const std::vector<Entry>& batch);
  Status SendFile(const std::vector<Entry>& batch);

  const Destination d_;
  Clock& clock_;
  const std::size_t max_queue_;
  const std::string hostname_;
  int tcp_fd_ = -1;  // the loop's thread only
  mutable Mutex mu_;
  std::condition_variable cv_;
  std::deque<Entry> queue_ GUARDED_BY(mu_);
  bool stopping_ GUARDED_BY(mu_) = false;
  std::uint64_t sent_ GUARDED_BY(mu_) = 0;
  std::uint64_t dropped_ GUARDED_BY(mu_) = 0;
  std::string last_error_ GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace gravity::logs
