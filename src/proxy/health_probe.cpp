#include "proxy/health_probe.h"

#include <memory>

#include "common/http1.h"

namespace gravity::proxy {

namespace {

using asio::awaitable;
using asio::use_awaitable;

constexpr std::size_t kMaxResponse = 1 << 20;

// What has been read of the response so far.
struct Reading {
  std::string data;  // raw bytes
  http1::ResponseHead head;
  std::size_t head_len = 0;
  http1::Framing framing;
  http1::ChunkedDecoder chunks;
  std::string body;  // the decoded body, as far as it is complete
  bool complete = false;
};

// Takes in newly read bytes; returns an error reason, or "" to go on.
std::string Advance(Reading& r) {
  if (r.head_len == 0) {
    auto p = http1::ParseResponseHead(r.data, http1::Limits{}, &r.head);
    if (p.status == http1::ParseStatus::kError) {
      return std::string("malformed response: ") + p.error_reason;
    }
    if (p.status != http1::ParseStatus::kComplete) return "";
    r.head_len = p.head_length;
    r.framing = http1::ResponseFraming(r.head, "GET");
    if (!r.framing.ok()) return std::string("malformed response: ") + r.framing.error_reason;
    r.data.erase(0, r.head_len);  // the head's views are not used past this point
  }
  switch (r.framing.kind) {
    case http1::BodyKind::kNone:
      r.complete = true;
      break;
    case http1::BodyKind::kContentLength:
      if (r.data.size() >= r.framing.length) {
        r.body = r.data.substr(0, r.framing.length);
        r.complete = true;
      }
      break;
    case http1::BodyKind::kChunked:
      r.chunks.Feed(r.data, &r.body);
      r.data.clear();
      if (r.chunks.failed()) return std::string("malformed chunked body: ") + r.chunks.error();
      r.complete = r.chunks.done();
      break;
    case http1::BodyKind::kUntilClose:
      r.body = r.data;
      break;
  }
  return "";
}

}  // namespace

awaitable<CheckResult> Probe(asio::io_context& io, const Address& address,
                             const HealthSpec& spec) {
  // Shared with the timeout handler: one that already fired when timer.cancel() runs still
  // runs after this frame is gone, and must find the socket alive.
  auto sock_owner = std::make_shared<tcp::socket>(io);
  tcp::socket& sock = *sock_owner;
  asio::steady_timer timer(io);
  auto timed_out = std::make_shared<bool>(false);
  timer.expires_after(spec.timeout);
  timer.async_wait([timed_out, sock_owner](error_code ec) {
    if (ec) return;
    *timed_out = true;
    error_code ignored;
    sock_owner->close(ignored);
  });
  error_code ec;
  auto tok = asio::redirect_error(use_awaitable, ec);
  tcp::endpoint ep(asio::ip::make_address(address.host, ec), address.port);
  co_await sock.async_connect(ep, tok);
  if (ec) {
    timer.cancel();
    if (*timed_out) co_return CheckResult{false, TimedOutReason(spec.timeout)};
    if (ec == asio::error::connection_refused) co_return CheckResult{false, "connection refused"};
    co_return CheckResult{false, "connect failed: " + ec.message()};
  }
  std::string req =
      "GET " + spec.path + " HTTP/1.1\r\nHost: " + address.text +
      "\r\nUser-Agent: gravity-health-check\r\nAccept: */*\r\nConnection: close\r\n\r\n";
  co_await asio::async_write(sock, asio::buffer(req), tok);
  Reading r;
  char chunk[8192];
  std::size_t total = 0;
  while (!ec && !r.complete && total < kMaxResponse) {
    std::size_t n = co_await sock.async_read_some(asio::buffer(chunk), tok);
    total += n;
    r.data.append(chunk, n);
    std::string error = Advance(r);
    if (!error.empty()) {
      timer.cancel();
      co_return CheckResult{false, error};
    }
  }
  timer.cancel();
  if (*timed_out) co_return CheckResult{false, TimedOutReason(spec.timeout)};
  if (r.head_len == 0) {
    co_return CheckResult{false, ec == asio::error::connection_reset
                                     ? "connection reset"
                                     : "connection closed before a response"};
  }
  if (!r.complete && r.framing.kind != http1::BodyKind::kUntilClose) {
    co_return CheckResult{false, "response body cut short"};
  }
  co_return EvaluateResponse(spec, r.head.status, r.body);
}

}  // namespace gravity::proxy
