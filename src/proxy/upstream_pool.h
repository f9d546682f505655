#pragma once

// Each worker's idle keep-alive connections to targets, per target. A pooled connection is
// never trusted blindly: it must have nothing to read (bytes a target sent after its
// response, or its close, would otherwise become the next client's response), so the pool
// peeks at a connection before handing it out and the sweep polls the whole idle pool,
// closing every connection that turned readable.
// Thread-safety: one pool per worker thread.

#include <poll.h>

#include <memory>
#include <unordered_map>
#include <vector>

#include "proxy/buffer.h"
#include "proxy/config.h"
#include "proxy/internal.h"
#include "proxy/route_table.h"
#include "proxy/watch.h"

namespace gravity::proxy {

// Large bodies move in few reads; a pooled connection holds none (BufferPool).
inline constexpr std::size_t kUpstreamBuf = 64 * 1024;

// True when the socket has nothing to read and is not at EOF (one non-blocking peek): a
// pooled upstream connection before reuse, a client connection before it parks.
bool Quiet(tcp::socket& sock);

struct UpstreamConn {
  UpstreamConn(asio::io_context& io, BufferPool* buffers) : sock(io), buf(buffers) {}
  ~UpstreamConn() { WatchList::Remove(&watch); }
  tcp::socket sock;
  std::shared_ptr<Target> target;
  Buffer buf;  // released to the worker's BufferPool while the connection is pooled
  Clock::TimePoint idle_since{};
  Watch watch;
  // The whole request went out in one send, right after Take found the connection quiet,
  // with nothing run in between: the response's readiness event cannot have been taken
  // by the event loop before, so the first read waits for it rather than trying a recv
  // that would fail with EAGAIN (Asio tries one on every read otherwise).
  bool await_response = false;
};

class UpstreamPool {
 public:
  explicit UpstreamPool(const ProxyLimits& limits) : limits_(limits) {}
  ~UpstreamPool() { Clear(); }  // before buffers_: the pooled connections' buffers go there

  // Read buffers for upstream connections (see UpstreamConn::buf).
  BufferPool* buffers() { return &buffers_; }

  // An idle connection to `t` with nothing to read, or null.
  std::unique_ptr<UpstreamConn> Take(const Target& t);
  // Keeps `c` for reuse unless its target is leaving or the pool for it is full. The
  // caller has checked that the exchange ended cleanly with nothing left unread.
  void Put(std::unique_ptr<UpstreamConn> c, Clock::TimePoint now);
  void DropTarget(std::uint64_t target_id);
  // Keeps only connections to targets in `table`.
  void Prune(const RouteTable& table);
  // Closes connections idle past the limit and those that turned readable.
  void Sweep(Clock::TimePoint now);
  void Clear() { idle_.clear(); }

 private:
  void CloseReadable();

  const ProxyLimits& limits_;
  BufferPool buffers_{kUpstreamBuf};
  std::unordered_map<std::uint64_t, std::vector<std::unique_ptr<UpstreamConn>>> idle_;
  std::vector<pollfd> poll_fds_;  // CloseReadable's scratch space
};

}  // namespace gravity::proxy
