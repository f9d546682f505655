#pragma once

// The inside of a Worker (see internal.h): its event loop, acceptor, route table copy,
// upstream pool, deadlines and access log. Shared by worker.cpp (accepting, sweeping,
// table updates) and session.cpp (serving one client connection).
// Thread-safety: everything here is touched only on the worker's own thread, except what
// Worker's "any thread" methods post to it.

#include <memory>
#include <unordered_set>
#include <vector>

#include "common/http1.h"
#include "proxy/access_log.h"
#include "proxy/internal.h"
#include "proxy/tls.h"
#include "proxy/upstream_pool.h"
#include "proxy/watch.h"

namespace gravity::proxy {

class H2Session;

struct Worker::Impl {
  Impl(Worker* owner, int index, const ServerOptions& options, Clock& clock,
       PassiveFailureFn on_failure, AccessLogSink log);
  ~Impl();

  std::uint64_t Random();  // xorshift64*: request ids and canary buckets, not secrets
  asio::awaitable<void> AcceptLoop(tcp::acceptor& from, bool tls);
  asio::awaitable<void> Serve(tcp::socket sock, bool tls);
  void ScheduleSweep();
  // How long an idle client connection may wait for its last request after Shutdown.
  Clock::Duration ShutdownGrace() const {
    return std::min<Clock::Duration>(std::chrono::seconds(1), limits.shutdown_timeout);
  }
  void Sweep();

  Worker* const owner;
  const int index;
  const ServerOptions options;
  const ProxyLimits& limits;
  Clock& clock;
  const PassiveFailureFn on_failure;
  http1::Limits parse_limits;

  Clock::TimePoint now;  // refreshed by the sweep: deadlines are within its interval
  std::uint64_t rng;
  std::shared_ptr<const RouteTable> table = std::make_shared<RouteTable>();
  std::vector<Worker*> peers;  // set by Listen: the workers this one accepts for
  std::uint32_t next_peer = 0;
  WatchList watches;  // declared before io: coroutine frames destroyed with io unlink from it
  UpstreamPool pool;
  AccessLog log;
  bool shutting_down = false;
  asio::io_context io{1};
  tcp::acceptor acceptor{io};
  tcp::acceptor https_acceptor{io};  // the HTTPS listener, when there is one
  TlsStore* tls = nullptr;           // set with the HTTPS listener; outlives the worker
  std::uint16_t https_port = 443;    // for redirects to HTTPS
  asio::steady_timer sweep_timer{io};
  std::unordered_set<H2Session*> h2_sessions;  // told to GOAWAY on Shutdown
};

}  // namespace gravity::proxy
