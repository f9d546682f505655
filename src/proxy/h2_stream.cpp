// One HTTP/2 stream of an H2Session, served by its own coroutine: the request's checks,
// the route, the exchange with a target over the HTTP/1.1 pools, and the response as
// DATA frames. See h2_session.h.

#include <fmt/format.h>
#include <nghttp2/nghttp2.h>

#include <array>
#include <charconv>

#include "proxy/canary_split.h"
#include "proxy/forwarding.h"
#include "proxy/h2_session.h"
#include "proxy/upstream_exchange.h"

namespace gravity::proxy {

ssize_t H2ReadBody(nghttp2_session* session, std::int32_t id, std::uint8_t* buf,
                   std::size_t length, std::uint32_t* flags, nghttp2_data_source* source,
                   void* user);

namespace {

using asio::awaitable;
using asio::use_awaitable;

// A stream's coroutine reads on from its target once the client has taken all but this.
constexpr std::size_t kStreamHighWater = 64 * 1024;

bool IsIdempotent(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS";
}

// Methods whose requests carry no body unless they say so.
bool BodylessByDefault(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "DELETE" ||
         method == "TRACE";
}

std::uint64_t MicrosSince(Clock::TimePoint start, Clock::TimePoint end) {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(end - start).count());
}

nghttp2_nv Nv(std::string_view name, std::string_view value) {
  return {reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
          reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), name.size(),
          value.size(), NGHTTP2_NV_FLAG_NONE};
}

}  // namespace

awaitable<void> H2Session::ServeStream(std::shared_ptr<H2Stream> sp) {
  H2Stream& s = *sp;
  ++running_;  // the connection's idle deadline waits for every stream
  Rearm();
  s.started = w_.clock.Now();
  // (Straight-line co_awaits: GCC 12 miscompiles co_await inside conditions here.)
  if (Admit(s)) {
    s.inflight.Set(s.route.target, s.route.pool->stats.get());
    const bool got = co_await Exchange(s);
    if (got) co_await Respond(s);
    s.inflight.Set(nullptr, nullptr);
  }
  co_await AwaitDelivered(s);
  if (--running_ == 0) idle_since_ = w_.now;
  Rearm();
}

// The checks before a target is involved; false when the stream was answered or reset.
bool H2Session::Admit(H2Stream& s) {
  // Reset already (a rapid reset's stream is gone before its coroutine runs): no target
  // is bothered, which keeps the attack as cheap for the proxy as for the client.
  if (s.closed) return false;
  if (s.early_status) {
    SubmitError(s, s.early_status, "request header fields too large");
    return false;
  }
  if (const char* why = CheckRequest(s)) {
    if (*why) SubmitError(s, why[0] == '5' ? 501 : 413, why + 1);
    return false;
  }
  if (Route(s)) return true;
  if (!s.route.service) {
    SubmitError(s, 404, "no service for this host and path");
  } else {
    s.route.pool->stats->Record(503, 0, 0);
    SubmitError(s, 503, "no healthy target for service '" + s.route.service->name + "'");
  }
  return false;
}

// The request's head and what its body will be. Returns null when it may go on; else ""
// when the stream was reset as malformed, or a status digit ('4' 413, '5' 501) followed by
// the detail to answer with.
const char* H2Session::CheckRequest(H2Stream& s) {
  if (FinishH2Request(&s.req) != nullptr) {
    Reset(s, NGHTTP2_PROTOCOL_ERROR);
    return "";
  }
  // A reverse proxy for apps opens no tunnels (as on HTTP/1.1).
  if (s.req.method == "CONNECT") return "5CONNECT is not supported";
  const http1::Header* cl = s.req.head.Find("content-length");
  std::uint64_t declared = 0;
  if (cl) {
    auto [p, ec] = std::from_chars(cl->value.data(), cl->value.data() + cl->value.size(), declared);
    if (ec != std::errc() || p != cl->value.data() + cl->value.size()) {
      Reset(s, NGHTTP2_PROTOCOL_ERROR);
      return "";
    }
    if (declared > w_.limits.max_body_bytes) return "4request body larger than the limit";
  }
  s.body_whole = s.end_stream;
  if (s.end_stream) {
    const bool none = s.body.empty() && !cl && BodylessByDefault(s.req.method);
    s.framing.kind = none ? http1::BodyKind::kNone : http1::BodyKind::kContentLength;
    s.framing.length = s.body.size();
  } else if (cl) {
    s.framing.kind = http1::BodyKind::kContentLength;
    s.framing.length = declared;
  } else {
    s.framing.kind = http1::BodyKind::kChunked;  // a length the client did not say
  }
  if (s.body_received > w_.limits.max_body_bytes) return "4request body larger than the limit";
  return nullptr;
}

bool H2Session::Route(H2Stream& s) {
  const http1::RequestHead& h = s.req.head;
  s.table = w_.table;
  s.route = ChooseRoute(*s.table, RequestHost(h), RoutePath(h), CookieBucket(h), w_.Random(),
                        w_.options.balance, CandidateHeader(h));
  if (!s.route.target) return false;
  ChooseRequestId(h, w_.Random(), w_.Random(), &s.request_id);
  return true;
}

// ---- the exchange with a target ------------------------------------------------------

// True with a response head in s.resp (its connection in s.up); false when the stream was
// answered with an error or is gone.
awaitable<bool> H2Session::Exchange(H2Stream& s) {
  RetryPolicy retry(IsIdempotent(s.req.method), s.body_whole);
  for (;;) {
    bool reused = false;
    AttemptFailure failure{};
    std::string reason;
    const bool got = co_await Attempt(s, &reused, &failure, &reason);
    if (got) co_return true;
    s.up.reset();
    if (reason.empty() || s.closed) co_return false;  // answered, or the client left
    switch (retry.OnFailure(failure, reused)) {
      case RetryAction::kFreshConnection:
        w_.pool.DropTarget(s.route.target->id);  // its siblings are suspect too
        continue;
      case RetryAction::kOtherTarget:
        if (Target* other = Pick(s.route.pool->targets, w_.options.balance,
                                 &s.route.pool->cursor, s.route.target)) {
          s.route.target = other;
          s.inflight.Set(other, s.route.pool->stats.get());
          continue;
        }
        break;
      case RetryAction::kGiveUp:
        break;
    }
    const bool timed_out =
        failure == AttemptFailure::kConnectTimedOut || failure == AttemptFailure::kResponseTimedOut;
    const int status = timed_out ? 504 : 502;
    s.route.pool->stats->Record(status, 0, 0);
    SubmitError(s, status, "target " + s.route.target->address.text + ": " + reason);
    co_return false;
  }
}

// One try. False with `reason` set: a failure for the retry policy; with `reason` empty:
// the stream is over (answered or gone).
awaitable<bool> H2Session::Attempt(H2Stream& s, bool* reused, AttemptFailure* failure,
                                   std::string* reason) {
  Target* t = s.route.target;
  s.up = w_.pool.Take(*t);
  *reused = s.up != nullptr;
  if (!s.up) s.up = co_await ConnectTarget(w_, s.route.pool->Owner(t), failure, reason);
  if (!s.up || s.closed) co_return false;
  UpstreamConn& up = *s.up;
  up.watch.sock = &up.sock;
  up.watch.target_id = t->id;
  up.watch.fired = false;
  if (!up.watch.prev) w_.watches.Add(&up.watch);
  up.watch.at = w_.now + w_.limits.upstream_response_timeout;
  UpstreamContext ctx;
  ctx.client_ip = client_ip_;
  ctx.proto = "https";
  ctx.request_id = s.request_id;
  ctx.target_address = t->address.text;
  s.upstream_head.clear();
  AppendUpstreamRequestHead(s.req.head, http1::ConnectionInfo{}, s.framing, ctx, &s.upstream_head);
  std::string_view body = s.body_whole ? std::string_view(s.body) : std::string_view();
  std::array<asio::const_buffer, 2> bufs = {asio::buffer(s.upstream_head),
                                            asio::buffer(body.data(), body.size())};
  const error_code uec = co_await SendRequest(up, bufs, *reused && s.body_whole);
  if (s.closed) co_return false;
  if (uec) {
    *failure = AttemptFailure::kSendFailed;
    *reason = "sending the request failed";
    co_return false;
  }
  Consume(s, body.size());  // kept in s.body for another attempt; the window may reopen
  // (No co_await inside && or ||: GCC 12 miscompiles it.)
  if (!s.body_whole) {
    const bool sent = co_await SendBody(s);
    if (!sent) co_return false;
  }
  HeadRead h = co_await ReadTargetResponseHead(w_, up, &s.resp);
  if (s.closed) co_return false;
  if (h.ok) {
    s.resp_head_len = h.head_len;
    co_return true;
  }
  if (h.fatal) {
    s.route.pool->stats->Record(502, 0, 0);
    SubmitError(s, 502, "target " + t->address.text + ": " + h.reason);
    co_return false;
  }
  *failure = h.failure;
  *reason = std::move(h.reason);
  co_return false;
}

// Streams the body to the target as it arrives (chunked when the client gave no length),
// giving the window back as it goes. False when the stream is over.
awaitable<bool> H2Session::SendBody(H2Stream& s) {
  const bool chunked = s.framing.kind == http1::BodyKind::kChunked;
  std::string piece;
  for (bool last = false;;) {
    if (s.body_received > w_.limits.max_body_bytes ||
        (!chunked && s.body_received > s.framing.length)) {
      SubmitError(s, 413, "request body larger than the limit");
      co_return false;
    }
    if (!s.body.empty() || s.end_stream) {
      // What is sent now is all there is when the client had ended its side already
      // (more may arrive during the write otherwise).
      last = s.end_stream;
      piece.clear();
      if (chunked && !s.body.empty()) piece = fmt::format("{:x}\r\n", s.body.size());
      piece.append(s.body);
      if (chunked && !s.body.empty()) piece.append("\r\n");
      if (chunked && last) piece.append("0\r\n\r\n");
      const std::size_t n = s.body.size();
      s.body.clear();
      error_code uec;
      s.up->watch.at = w_.now + w_.limits.upstream_response_timeout;
      co_await asio::async_write(s.up->sock, asio::buffer(piece), asio::redirect_error(use_awaitable, uec));
      if (s.closed) co_return false;
      if (uec) {
        SubmitError(s, 502, "target " + s.route.target->address.text + ": sending the body failed");
        co_return false;
      }
      Consume(s, n);
    }
    if (last) co_return true;
    const bool woke = co_await WaitStream(s, w_.limits.client_body_timeout);
    if (!woke) {
      Reset(s, NGHTTP2_CANCEL);  // the client stalled mid-body (or left)
      co_return false;
    }
  }
}

// ---- the response --------------------------------------------------------------------------

awaitable<void> H2Session::Respond(H2Stream& s) {
  const std::string& target = s.route.target->address.text;
  http1::Framing rf = http1::ResponseFraming(s.resp, s.req.method);
  // HTTP/2 has no Transfer-Encoding: a coding other than chunked (gzip, ...) would reach the
  // client undeclared, so such a response is refused rather than corrupted.
  bool other_coding = false;
  for (const auto& h : s.resp.headers) {
    if (!http1::EqualsIgnoreCase(h.name, "transfer-encoding")) continue;
    std::string_view v = h.value;
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
    if (!http1::EqualsIgnoreCase(v, "chunked")) other_coding = true;
  }
  if (other_coding && rf.ok()) {
    s.up.reset();
    s.route.pool->stats->Record(502, 0, 0);
    SubmitError(s, 502, "target " + target + ": a transfer coding HTTP/2 cannot carry");
    co_return;
  }
  if (s.resp.status == 101 || !rf.ok()) {
    s.up.reset();
    s.route.pool->stats->Record(502, 0, 0);
    SubmitError(s, 502, s.resp.status == 101 ? "target answered 101 to an HTTP/2 request"
                                             : "target " + target + ": " + rf.error_reason);
    co_return;
  }
  http1::ParseConnection(s.resp.headers, &s.rinfo);
  const bool upstream_keep =
      http1::KeepAlive(s.resp.version_minor, s.rinfo) && rf.kind != http1::BodyKind::kUntilClose;
  const int status = s.resp.status;
  const bool body = rf.kind != http1::BodyKind::kNone;
  SubmitResponse(s, status,
                 H2ResponseFields(s.resp, s.rinfo, s.route.set_cookie_bucket, s.route.service->hsts),
                 body);
  s.up->buf.Consume(s.resp_head_len);
  bool complete = true;
  if (body) complete = co_await RelayBody(s, rf);
  Finish(s, status);
  // Pool the upstream connection only when the exchange ended cleanly.
  if (complete && upstream_keep && !w_.shutting_down) w_.pool.Put(std::move(s.up), w_.now);
  s.up.reset();
  if (!complete) Reset(s, NGHTTP2_INTERNAL_ERROR);  // the client must see the truncation
}

// Passes the target's body on as DATA, decoded from `rf`'s framing, no faster than the
// client's window lets it go. True when the whole body was handed to nghttp2.
awaitable<bool> H2Session::RelayBody(H2Stream& s, const http1::Framing& rf) {
  UpstreamConn& up = *s.up;
  http1::ChunkedDecoder chunks;
  std::string decoded;
  std::uint64_t remaining = rf.length;
  error_code uec;
  for (;;) {
    std::string_view avail = up.buf.view();
    bool done = false;
    if (rf.kind == http1::BodyKind::kContentLength) {
      const std::size_t take = std::min<std::uint64_t>(remaining, avail.size());
      remaining -= take;
      done = remaining == 0;
      Push(s, avail.substr(0, take), done);
      up.buf.Consume(take);
    } else if (rf.kind == http1::BodyKind::kChunked) {
      decoded.clear();
      const std::size_t take = chunks.Feed(avail, &decoded);
      if (chunks.failed()) co_return false;
      done = chunks.done();
      Push(s, decoded, done);
      up.buf.Consume(take);
    } else {
      Push(s, avail, false);
      up.buf.Consume(avail.size());
    }
    if (done) co_return true;
    while (s.pending_out() >= kStreamHighWater) {
      const bool woke = co_await WaitStream(s, w_.limits.client_body_timeout);
      if (!woke) {
        Reset(s, NGHTTP2_CANCEL);  // the client's window stayed shut (or it left)
        co_return false;
      }
    }
    if (s.closed) co_return false;
    up.watch.at = w_.now + w_.limits.upstream_response_timeout;
    const std::size_t n = co_await up.sock.async_read_some(up.buf.Space(kUpstreamBuf),
                                                           asio::redirect_error(use_awaitable, uec));
    if (s.closed) co_return false;
    if (uec) {
      if (rf.kind != http1::BodyKind::kUntilClose || uec != asio::error::eof || up.watch.fired) {
        co_return false;
      }
      Push(s, {}, true);  // EOF ends the body normally
      co_return true;
    }
    up.buf.Commit(n);
  }
}

// Waits for a callback's wake-up, at most `limit`. False when the stream closed or the
// deadline passed (the sweep cancelled the timer).
awaitable<bool> H2Session::WaitStream(H2Stream& s, Clock::Duration limit) {
  if (s.closed) co_return false;
  if (!s.woken) {
    s.watch.fired = false;
    s.watch.at = w_.now + limit;
    s.wake.expires_at(asio::steady_timer::time_point::max());
    error_code ec;
    co_await s.wake.async_wait(asio::redirect_error(use_awaitable, ec));
    s.watch.at = Clock::TimePoint::max();
  }
  s.woken = false;
  co_return !s.closed && !s.watch.fired;
}

// The stream ends when nghttp2 has sent all of it; a client that does not open its window
// for the body timeout gets RST_STREAM, and one still sending a body it no longer needs
// gets RST_STREAM(NO_ERROR) after the response (RFC 9113 8.1).
awaitable<void> H2Session::AwaitDelivered(H2Stream& s) {
  bool waiting = true;
  while (waiting && !s.closed) {
    if (s.eof_sent && !s.end_stream) {
      Reset(s, NGHTTP2_NO_ERROR);
      break;
    }
    const bool woke = co_await WaitStream(s, w_.limits.client_body_timeout);
    if (!woke) {
      Reset(s, NGHTTP2_CANCEL);
      waiting = false;
    }
  }
  co_return;
}

void H2Session::SubmitResponse(H2Stream& s, int status, const std::vector<H2Field>& fields,
                               bool body) {
  if (s.closed) return;
  const std::string code = std::to_string(status);
  std::vector<nghttp2_nv> nva;
  nva.reserve(fields.size() + 1);
  nva.push_back(Nv(":status", code));
  for (const auto& f : fields) nva.push_back(Nv(f.name, f.value));
  nghttp2_data_provider provider{};
  provider.source.ptr = &s;
  provider.read_callback = H2ReadBody;
  nghttp2_submit_response(session_, s.id, nva.data(), nva.size(), body ? &provider : nullptr);
  if (!body) s.eof_sent = true;
  WakeWriter();
}

void H2Session::SubmitError(H2Stream& s, int status, std::string_view detail) {
  // The body is not wanted any more: what arrives is given back to the window at once.
  s.discard = true;
  s.body.clear();
  Consume(s, s.unconsumed);
  const bool head = s.req.method == "HEAD";
  std::string text = fmt::format("{} {}\n{}\n", status, http1::ReasonPhrase(status), detail);
  std::vector<H2Field> fields = {{"content-type", "text/plain; charset=utf-8"},
                                 {"content-length", std::to_string(text.size())}};
  if (!head) Push(s, text, true);
  SubmitResponse(s, status, fields, !head);
}

void H2Session::Push(H2Stream& s, std::string_view data, bool eof) {
  if (!data.empty()) {
    if (s.out_off > kStreamHighWater) {
      s.out.erase(0, s.out_off);
      s.out_off = 0;
    }
    s.out.append(data);
    s.pushed += data.size();
  }
  if (eof) s.out_eof = true;
  if (s.deferred && (!data.empty() || eof) && !s.closed) {
    s.deferred = false;
    nghttp2_session_resume_data(session_, s.id);
  }
  WakeWriter();
}

void H2Session::Consume(H2Stream& s, std::size_t n) {
  n = std::min(n, s.unconsumed);
  if (n == 0) return;
  s.unconsumed -= n;
  if (!s.closed) nghttp2_session_consume(session_, s.id, n);
  WakeWriter();  // a WINDOW_UPDATE may be due
}

void H2Session::Reset(H2Stream& s, std::uint32_t code) {
  if (s.closed || s.reset_sent) return;  // the first reason counts
  s.reset_sent = true;
  nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, s.id, code);
  WakeWriter();
}

// Records the stream in the pool's statistics and the access log.
void H2Session::Finish(H2Stream& s, int status) {
  const Clock::TimePoint finished = w_.clock.Now();
  const std::uint64_t micros = MicrosSince(s.started, finished);
  s.route.pool->stats->Record(status, micros, s.pushed);
  if (!w_.log.enabled()) return;
  AccessRecord rec;
  rec.wall_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                    w_.clock.WallNow().time_since_epoch())
                    .count();
  rec.request_id = s.request_id;
  rec.method = s.req.method;
  rec.host = RequestHost(s.req.head);
  rec.path = s.req.path;
  rec.status = status;
  rec.bytes = s.pushed;
  rec.micros = micros;
  rec.service = s.route.service->name;
  rec.pool = s.route.pool_name;
  rec.target = s.route.target->address.text;
  rec.protocol = "h2";
  w_.log.Append(rec);
}

}  // namespace gravity::proxy
