#pragma once

// Shared between the proxy's data plane (worker, session, pool) and its control plane.
// Includes Asio: never include this from other folders.

#include <utility>  // first: Asio 1.18's awaitable.hpp needs std::exchange
// clang-format off
#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/redirect_error.hpp>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>
// clang-format on

#include "common/clock.h"
#include "proxy/balancer.h"
#include "proxy/metrics.h"
#include "proxy/route_table.h"
#include "proxy/router.h"
#include "proxy/server.h"

namespace gravity::proxy {

class TlsStore;

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;

// Called by workers (on their thread) when a connection to a target fails.
using PassiveFailureFn = std::function<void(std::shared_ptr<Target>, std::string reason)>;

// Appends JSON lines to one file descriptor; each worker buffers and flushes whole lines.
struct AccessLogSink {
  int fd = -1;  // -1: off
};

// One event loop on one thread with its own upstream connection pools and its own copy of
// the route table: the request path takes no locks. The process has one listening socket
// (no SO_REUSEPORT, so no other process can bind the same address and silently take a share
// of the connections); the first worker owns it, accepts, and hands each connection to the
// worker with the fewest connections (itself included).
// Thread-safety: methods marked "any thread" post to the worker's thread; everything else
// runs on the worker's thread only.
class Worker {
 public:
  Worker(int index, const ServerOptions& options, Clock& clock, PassiveFailureFn on_failure,
         AccessLogSink log);
  ~Worker();

  // Binds the listener; returns the bound endpoint (port 0 resolved). Before Start(), on
  // one worker only: it accepts for `peers` (every worker, itself included), which must
  // outlive it.
  Result<tcp::endpoint> Listen(const tcp::endpoint& endpoint, std::vector<Worker*> peers);
  // The same with a listening socket another process handed over (see takeover.h).
  Result<tcp::endpoint> Adopt(int listen_fd, std::vector<Worker*> peers);
  int listen_fd();  // before Start(): the listening socket, or -1
  // The HTTPS listener (on the first worker, like the plain one): bound anew, or the
  // inherited socket when `inherited_fd` >= 0.
  Result<tcp::endpoint> ListenHttps(const tcp::endpoint& endpoint, int inherited_fd);
  int https_fd();  // before Start(): the HTTPS listening socket, or -1
  // Before Start(), on every worker: where TLS connections get their certificates, and the
  // HTTPS port redirects name.
  void UseTls(TlsStore* store, std::uint16_t https_port);
  void Start();  // starts the thread
  // Any thread. `applied` runs on the worker's thread once the table is in use.
  void SetTable(std::shared_ptr<const RouteTable> table, std::function<void()> applied = {});
  void CloseTarget(std::uint64_t target_id);  // any thread: drain timeout hit
  void Shutdown();                            // any thread: stop accepting
  std::int64_t active_connections() const { return connections_.load(); }  // any thread
  void StopAndJoin();

  struct Impl;

 private:
  std::atomic<std::int64_t> connections_{0};  // before impl_: sessions destroyed with it count down
  std::unique_ptr<Impl> impl_;
  std::thread thread_;
};

}  // namespace gravity::proxy
