#pragma once

// The inside of a Worker (see internal.h): its event loop, acceptor, route table copy,
// upstream pool, deadlines and access log. Shared by worker.cpp (accepting, sweeping,
// table updates), session.cpp (serving one client connection) and parking.cpp (running
// sessions, parking them between requests).
// Thread-safety: everything here is touched only on the worker's own thread, except what
// Worker's "any thread" methods post to it.

#include <memory>
#include <unordered_set>
#include <vector>

#include "common/http1.h"
#include "proxy/access_log.h"
#include "proxy/block_pool.h"
#include "proxy/buffer.h"
#include "proxy/internal.h"
#include "proxy/parking_lot.h"
#include "proxy/tls.h"
#include "proxy/upstream_pool.h"
#include "proxy/watch.h"

namespace gravity::proxy {

class H2Session;
class Session;

struct Worker::Impl {
  Impl(Worker* owner, int index, const ServerOptions& options, Clock& clock,
       PassiveFailureFn on_failure, AccessLogSink log);
  ~Impl();

  std::uint64_t Random();  // xorshift64*: request ids and canary buckets, not secrets
  asio::awaitable<void> AcceptLoop(tcp::acceptor& from, bool tls);
  void Serve(tcp::socket sock, bool tls);  // on this worker's thread
  void Resume(std::unique_ptr<Session> s);  // runs (or goes on running) a session
  void Park(std::unique_ptr<Session> s);    // waits, holding only s, for its next request
  void Unparked(void* key);  // the lot: a parked connection's next request (or EOF) came
  void CloseParked();        // every parked connection (the worker is going away)
  static std::size_t ParkedSize();
  void SessionEnded() { owner->connections_.fetch_sub(1, std::memory_order_relaxed); }
  void ScheduleSweep();
  // How long an idle client connection may wait for its last request after Shutdown.
  Clock::Duration ShutdownGrace() const {
    return std::min<Clock::Duration>(std::chrono::seconds(1), limits.shutdown_timeout);
  }
  void Sweep();
  void ReturnFreedMemory();  // after many connections parked (see worker.cpp)

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
  WatchList watches;  // declared before io: sessions destroyed with io unlink from it
  BlockPool parked_blocks;  // before io and lot: the parked connections' blocks
  // Client connections' head buffers: most request heads fit (larger ones grow the buffer,
  // up to the head limit); one waiting for its next request gives its buffer back here.
  static constexpr std::size_t kClientBuf = 1024;
  BufferPool client_bufs{kClientBuf};
  UpstreamPool pool;
  AccessLog log;
  bool shutting_down = false;
  int parked_since_trim = 0;  // connections parked since ReturnFreedMemory last ran
  Clock::TimePoint memory_returned{};
  asio::io_context io{1};
  tcp::acceptor acceptor{io};
  tcp::acceptor https_acceptor{io};  // the HTTPS listener, when there is one
  TlsStore* tls = nullptr;           // set with the HTTPS listener; outlives the worker
  std::uint16_t https_port = 443;    // for redirects to HTTPS
  asio::steady_timer sweep_timer{io};
  ParkingLot lot{io, [this](void* key) { Unparked(key); }};  // parked plain-HTTP connections
  std::unordered_set<H2Session*> h2_sessions;  // told to GOAWAY on Shutdown
};

}  // namespace gravity::proxy
