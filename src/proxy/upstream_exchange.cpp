#include "proxy/upstream_exchange.h"

#include <sys/socket.h>

#include <cerrno>

namespace gravity::proxy {

using asio::awaitable;
using asio::use_awaitable;

namespace {

// One non-blocking sendmsg of both buffers: the bytes sent (0 when the socket would
// block), or an error in `ec`.
std::size_t SendNow(tcp::socket& sock, const std::array<asio::const_buffer, 2>& bufs,
                    error_code& ec) {
  iovec iov[2];
  for (std::size_t i = 0; i < 2; ++i) {
    iov[i].iov_base = const_cast<void*>(bufs[i].data());
    iov[i].iov_len = bufs[i].size();
  }
  msghdr msg{};
  msg.msg_iov = iov;
  msg.msg_iovlen = 2;
  for (;;) {
    const ssize_t n = ::sendmsg(sock.native_handle(), &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      ec = error_code(errno, asio::error::get_system_category());
    }
    return 0;
  }
}

// Drops the first `n` bytes of the two buffers.
void Skip(std::array<asio::const_buffer, 2>& bufs, std::size_t n) {
  for (auto& b : bufs) {
    const std::size_t k = std::min(n, b.size());
    b += k;
    n -= k;
  }
}

}  // namespace

awaitable<error_code> SendRequest(UpstreamConn& up, std::array<asio::const_buffer, 2> bufs,
                                  bool whole_to_quiet) {
  error_code ec;
  bool whole = false;
  if (whole_to_quiet) {
    const std::size_t total = bufs[0].size() + bufs[1].size();
    const std::size_t sent = SendNow(up.sock, bufs, ec);
    whole = !ec && sent == total;
    Skip(bufs, sent);  // what is left, if anything, goes by async_write
  }
  if (!ec && !whole) {
    co_await asio::async_write(up.sock, bufs, asio::redirect_error(use_awaitable, ec));
  }
  up.await_response = whole;
  co_return ec;
}

awaitable<std::unique_ptr<UpstreamConn>> ConnectTarget(Worker::Impl& w,
                                                       std::shared_ptr<Target> target,
                                                       AttemptFailure* failure,
                                                       std::string* reason) {
  const ProxyLimits& limits = w.limits;
  auto up = std::make_unique<UpstreamConn>(w.io, w.pool.buffers());
  up->target = std::move(target);  // kept alive while the request runs
  error_code ec;
  const Target& t = *up->target;
  tcp::endpoint ep(asio::ip::make_address(t.address.host, ec), t.address.port);
  up->watch.sock = &up->sock;
  up->watch.target_id = t.id;
  up->watch.at = w.now + limits.upstream_connect_timeout;
  w.watches.Add(&up->watch);
  co_await up->sock.async_connect(ep, asio::redirect_error(use_awaitable, ec));
  if (!ec) {
    up->sock.set_option(tcp::no_delay(true), ec);
    co_return up;
  }
  const bool timed_out = up->watch.fired;
  *failure = timed_out ? AttemptFailure::kConnectTimedOut : AttemptFailure::kConnectFailed;
  *reason = timed_out ? "timed out after connecting for " +
                            std::to_string(limits.upstream_connect_timeout.count()) + "ms"
            : ec == asio::error::connection_refused ? "connection refused"
                                                    : "connect: " + ec.message();
  w.on_failure(up->target, *reason);
  co_return nullptr;
}

awaitable<HeadRead> ReadTargetResponseHead(Worker::Impl& w, UpstreamConn& up,
                                           http1::ResponseHead* resp) {
  HeadRead out;
  http1::HeadScanner scan;
  bool got_bytes = false;
  error_code uec;
  up.watch.at = w.now + w.limits.upstream_response_timeout;
  for (;;) {
    if (!up.buf.empty()) {
      auto r = http1::ParseResponseHead(up.buf.view(), w.parse_limits, resp, &scan);
      if (r.status == http1::ParseStatus::kError) {
        out.fatal = true;
        out.reason = r.error_reason;
        co_return out;
      }
      if (r.status == http1::ParseStatus::kComplete) {
        if (resp->status >= 100 && resp->status < 200 && resp->status != 101) {
          up.buf.Consume(r.head_length);  // interim response: not passed on
          scan.Reset();
          continue;
        }
        out.ok = true;
        out.head_len = r.head_length;
        co_return out;
      }
    }
    auto space = up.buf.Space(kUpstreamBuf);
    if (space.size() == 0) {
      out.fatal = true;
      out.reason = "response head too large";
      co_return out;
    }
    if (up.await_response) {
      up.await_response = false;
      co_await up.sock.async_wait(tcp::socket::wait_read, asio::redirect_error(use_awaitable, uec));
      if (uec) break;  // cancelled by the response deadline, or the socket failed
    }
    std::size_t n = co_await up.sock.async_read_some(space, asio::redirect_error(use_awaitable, uec));
    if (uec) break;
    got_bytes = true;
    up.buf.Commit(n);
  }
  if (up.watch.fired) {
    out.failure = AttemptFailure::kResponseTimedOut;
    out.reason = "no response within " +
                 std::to_string(w.limits.upstream_response_timeout.count()) + "ms";
  } else {
    out.failure = got_bytes ? AttemptFailure::kResponseStarted : AttemptFailure::kClosedBeforeResponse;
    out.reason = "connection closed before a response";
  }
  co_return out;
}

}  // namespace gravity::proxy
