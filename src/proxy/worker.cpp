// A worker: one event loop on one thread, accepting (the first worker) and serving client
// connections (session.cpp), with its own upstream pool and its own copy of the routes.

#include <spdlog/spdlog.h>
#include <malloc.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "proxy/h2_session.h"
#include "proxy/session.h"
#include "proxy/worker_impl.h"

namespace gravity::proxy {

namespace {

using asio::awaitable;
using asio::use_awaitable;

constexpr auto kSweepInterval = std::chrono::milliseconds(100);
// A client connection idle this long parks (Session::Run, parking.cpp).
constexpr auto kTrimIdleAfter = std::chrono::milliseconds(200);
// After this many connections parked, the heap their sessions used is given back to the
// system (at most once a second).
constexpr int kReturnMemoryAfterParked = 1000;
constexpr auto kReturnMemoryEvery = std::chrono::seconds(1);

}  // namespace

Worker::Impl::Impl(Worker* owner_in, int index_in, const ServerOptions& options_in,
                   Clock& clock_in, PassiveFailureFn on_failure_in, AccessLogSink log_in)
    : owner(owner_in),
      index(index_in),
      options(options_in),
      limits(options.limits),
      clock(clock_in),
      on_failure(std::move(on_failure_in)),
      parked_blocks(ParkedSize()),
      pool(options.limits),
      log(log_in.fd) {
  parse_limits.max_head_bytes = limits.max_header_bytes;
  parse_limits.max_headers = limits.max_headers;
  now = clock.Now();
  rng = 0x9E3779B97F4A7C15ull ^ (static_cast<std::uint64_t>(index) << 32) ^
        static_cast<std::uint64_t>(clock.Now().time_since_epoch().count()) ^
        reinterpret_cast<std::uintptr_t>(this);
}

Worker::Impl::~Impl() {
  CloseParked();
  pool.Clear();  // their sockets belong to io
  error_code ec;
  acceptor.close(ec);
  https_acceptor.close(ec);
}

std::uint64_t Worker::Impl::Random() {
  rng ^= rng >> 12;
  rng ^= rng << 25;
  rng ^= rng >> 27;
  return rng * 0x2545F4914F6CDD1Dull;
}

awaitable<void> Worker::Impl::AcceptLoop(tcp::acceptor& from, bool tls) {
  error_code ec;
  for (;;) {
    // The worker with the fewest connections gets the next one; ties go round the list.
    Worker* to = peers[next_peer++ % peers.size()];
    for (Worker* p : peers) {
      if (p->connections_.load(std::memory_order_relaxed) <
          to->connections_.load(std::memory_order_relaxed)) {
        to = p;
      }
    }
    Impl* dst = to->impl_.get();
    tcp::socket sock(dst->io);
    co_await from.async_accept(sock, asio::redirect_error(use_awaitable, ec));
    if (ec) {
      if (ec == asio::error::operation_aborted || !from.is_open()) co_return;
      if (ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space) {
        spdlog::warn("proxy: accept failed: {}", ec.message());
        asio::steady_timer t(io, std::chrono::milliseconds(50));
        co_await t.async_wait(asio::redirect_error(use_awaitable, ec));
      }
      continue;
    }
    sock.set_option(tcp::no_delay(true), ec);
    to->connections_.fetch_add(1, std::memory_order_relaxed);
    // Serve runs on the receiving worker's thread.
    asio::post(dst->io, [dst, sock = std::move(sock), tls]() mutable {
      dst->Serve(std::move(sock), tls);
    });
  }
}

void Worker::Impl::ScheduleSweep() {
  sweep_timer.expires_after(kSweepInterval);
  sweep_timer.async_wait([this](error_code ec) {
    if (ec) return;
    Sweep();
    ScheduleSweep();
  });
}

// Deadlines, idle trimming, the upstream pool's upkeep and the access log's flush.
void Worker::Impl::Sweep() {
  now = clock.Now();
  watches.ForEach([&](Watch* w) {
    if (!w->sock && !w->timer && !w->parked) return;
    error_code ec;
    if (!w->fired && w->at <= now) {
      w->fired = true;
      if (w->parked) {
        delete w->parked;  // closes it (and unlinks w)
        return;
      }
      if (w->sock) w->sock->close(ec);
      if (w->timer) w->timer->cancel();
    } else if (w->sock && w->idle_client && !w->trimmed && w->idle_since + kTrimIdleAfter <= now) {
      w->trimmed = true;
      w->sock->cancel(ec);  // the session re-waits without a buffer
    }
  });
  pool.Sweep(now);
  log.Flush();
  if (parked_since_trim >= kReturnMemoryAfterParked && now >= memory_returned + kReturnMemoryEvery) {
    ReturnFreedMemory();
  }
}

// Many sessions that parked at once (a burst of new keep-alive connections) leave their
// memory free but resident: the allocator keeps freed pages between live blocks. Handing
// the whole free pages back costs a walk of the free lists, so it is done after bursts.
void Worker::Impl::ReturnFreedMemory() {
  parked_since_trim = 0;
  memory_returned = now;
#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
  const auto start = std::chrono::steady_clock::now();
  ::malloc_trim(0);
  spdlog::debug("proxy: worker {} returned freed memory in {} us", index,
                std::chrono::duration_cast<std::chrono::microseconds>(
                    std::chrono::steady_clock::now() - start).count());
#endif
}

// ---- Worker --------------------------------------------------------------------------

Worker::Worker(int index, const ServerOptions& options, Clock& clock, PassiveFailureFn on_failure,
               AccessLogSink log)
    : impl_(std::make_unique<Impl>(this, index, options, clock, std::move(on_failure), log)) {}

Worker::~Worker() { StopAndJoin(); }

namespace {

// SO_REUSEADDR only: binding over TIME_WAIT leftovers is fine, but an address some other
// socket listens on is refused (SO_REUSEPORT would let another process share it).
Result<tcp::endpoint> Bind(tcp::acceptor& a, const tcp::endpoint& endpoint) {
  error_code ec;
  a.open(endpoint.protocol(), ec);
  if (!ec) a.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) a.bind(endpoint, ec);
  if (!ec) a.listen(4096, ec);
  if (ec) {
    std::string where = endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
    if (ec == asio::error::address_in_use) {
      return Status::Error("cannot listen on " + where +
                           ": the address is already in use (another gravity proxy or another "
                           "server listens there)");
    }
    return Status::Error("cannot listen on " + where + ": " + ec.message());
  }
  return a.local_endpoint();
}

Result<tcp::endpoint> Assign(tcp::acceptor& a, int listen_fd) {
  error_code ec;
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (::getsockname(listen_fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    return Status::Error(std::string("inherited listener: ") + std::strerror(errno));
  }
  a.assign(ss.ss_family == AF_INET6 ? tcp::v6() : tcp::v4(), listen_fd, ec);
  if (ec) return Status::Error("inherited listener: " + ec.message());
  return a.local_endpoint();
}

}  // namespace

Result<tcp::endpoint> Worker::Listen(const tcp::endpoint& endpoint, std::vector<Worker*> peers) {
  impl_->peers = std::move(peers);
  return Bind(impl_->acceptor, endpoint);
}

Result<tcp::endpoint> Worker::Adopt(int listen_fd, std::vector<Worker*> peers) {
  impl_->peers = std::move(peers);
  return Assign(impl_->acceptor, listen_fd);
}

Result<tcp::endpoint> Worker::ListenHttps(const tcp::endpoint& endpoint, int inherited_fd) {
  if (inherited_fd >= 0) return Assign(impl_->https_acceptor, inherited_fd);
  return Bind(impl_->https_acceptor, endpoint);
}

void Worker::UseTls(TlsStore* store, std::uint16_t https_port) {
  impl_->tls = store;
  impl_->https_port = https_port;
}

int Worker::listen_fd() {
  return impl_->acceptor.is_open() ? impl_->acceptor.native_handle() : -1;
}

int Worker::https_fd() {
  return impl_->https_acceptor.is_open() ? impl_->https_acceptor.native_handle() : -1;
}

void Worker::Start() {
  Impl* impl = impl_.get();
  if (impl->acceptor.is_open()) {
    asio::co_spawn(impl->io, impl->AcceptLoop(impl->acceptor, false), asio::detached);
  }
  if (impl->https_acceptor.is_open() && impl->tls) {
    asio::co_spawn(impl->io, impl->AcceptLoop(impl->https_acceptor, true), asio::detached);
  }
  impl->ScheduleSweep();
  thread_ = std::thread([impl] { impl->io.run(); });
}

void Worker::SetTable(std::shared_ptr<const RouteTable> table, std::function<void()> applied) {
  Impl* impl = impl_.get();
  asio::post(impl->io, [impl, table = std::move(table), applied = std::move(applied)]() mutable {
    impl->table = std::move(table);
    impl->pool.Prune(*impl->table);
    if (applied) applied();
  });
}

void Worker::CloseTarget(std::uint64_t target_id) {
  Impl* impl = impl_.get();
  asio::post(impl->io, [impl, target_id] {
    impl->pool.DropTarget(target_id);
    impl->watches.ForEach([&](Watch* w) {
      if (w->target_id == target_id && w->sock) {
        w->fired = true;
        error_code ec;
        w->sock->close(ec);
      }
    });
  });
}

void Worker::Shutdown() {
  Impl* impl = impl_.get();
  asio::post(impl->io, [impl] {
    impl->shutting_down = true;
    error_code ec;
    impl->acceptor.close(ec);
    impl->https_acceptor.close(ec);
    impl->pool.Clear();
    // Idle connections are not cut at once: a request already on its way would fail. Each
    // gets its next response with Connection: close, or is closed after a short grace.
    const Clock::TimePoint grace = impl->now + impl->ShutdownGrace();
    impl->watches.ForEach([&](Watch* w) {
      if (w->idle_client && (w->sock || w->parked) && w->at > grace) w->at = grace;
    });
    // HTTP/2 connections say GOAWAY: streams in flight finish, no new ones start.
    for (H2Session* h2 : impl->h2_sessions) h2->GoAway();
    impl->log.Flush();
  });
}

void Worker::StopAndJoin() {
  if (!thread_.joinable()) return;
  Impl* impl = impl_.get();
  asio::post(impl->io, [impl] { impl->log.Flush(); });
  impl->io.stop();
  thread_.join();
}

}  // namespace gravity::proxy
