#include "proxy/upstream_exchange.h"

namespace gravity::proxy {

using asio::awaitable;
using asio::use_awaitable;

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
