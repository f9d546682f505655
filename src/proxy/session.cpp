#include "proxy/session.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <array>

#include "proxy/canary_split.h"
#include "proxy/forwarding.h"
#include "proxy/h2_session.h"
#include "proxy/route_choice.h"
#include "proxy/upstream_exchange.h"

namespace gravity::proxy {

namespace {

using asio::awaitable;
using asio::use_awaitable;

bool IsIdempotent(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS";
}

std::uint64_t MicrosSince(Clock::TimePoint start, Clock::TimePoint end) {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(end - start).count());
}

}  // namespace

Session::Session(Worker::Impl& w, tcp::socket sock, bool tls)
    : w_(w), sock_(std::move(sock)), buf_(&w.client_bufs) {
  watch_.sock = &sock_;
  w_.watches.Add(&watch_);
  if (tls && w_.tls) tls_ = std::make_unique<TlsStream>(w_.tls->base(), sock_);
}

void Session::LearnClient() {
  error_code ec;
  auto ep = sock_.remote_endpoint(ec);
  if (ec) return;
  client_ip_ = ep.address().to_string();
  v6_ = ep.address().is_v6();
}

Session::~Session() {
  WatchList::Remove(&watch_);
  if (!handed_on_) w_.SessionEnded();
}

void Session::TrimIdle() {
  buf_.Release();
  std::string().swap(out_);
  std::string().swap(request_id_);
  std::string().swap(log_host_);
  std::string().swap(log_path_);
  // Swapped with empty ones: `v = {}` would keep the capacity.
  std::vector<http1::Header>().swap(head_.headers);
  std::vector<http1::Header>().swap(resp_.headers);
  std::vector<std::string_view>().swap(cinfo_.tokens);
  std::vector<std::string_view>().swap(rinfo_.tokens);
  if (tls_) tls_->ReleaseScratch();
}

awaitable<bool> Session::Run() {
  if (!started_) {
    started_ = true;
    LearnClient();
    // co_await kept out of && and ?: (GCC 12 has miscompiled such coroutine expressions).
    if (tls_) {
      const bool shaken = co_await Handshake();
      if (!shaken) co_return false;
    }
    if (tls_ && tls_->alpn() == "h2") {
      co_await ServeH2();  // it has closed the TLS stream itself
      co_return false;
    }
  }
  for (;;) {
    const Next next = co_await ReadHead();
    if (next == Next::kPark) co_return true;
    if (next == Next::kClose) break;
    if (co_await Handle() == After::kClose) break;
    ++served_;
  }
  if (tls_) tls_->Close();
  co_return false;
}

// In a coroutine of its own, so that the H2Session is not part of every session's frame.
awaitable<void> Session::ServeH2() {
  H2Session h2(w_, sock_, *tls_, watch_, client_ip_);
  co_await h2.Run();
}

bool Session::TryRead(asio::mutable_buffer b, std::size_t* n) {
  ec_ = {};
  for (;;) {
    const ssize_t r = ::recv(sock_.native_handle(), b.data(), b.size(), MSG_DONTWAIT);
    if (r > 0) {
      *n = static_cast<std::size_t>(r);
      return true;
    }
    if (r == 0) {
      ec_ = asio::error::eof;
      return true;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return false;
    ec_ = error_code(errno, asio::error::get_system_category());
    return true;
  }
}

bool Session::Readable() {
  if (tls_ && tls_->HasPending()) return true;
  return !Quiet(sock_);
}

// The TLS handshake has the head's deadline: a client that never finishes it is cut off
// like one that never finishes its request head. Nothing is logged per failed handshake
// (scanners and broken clients would flood the log).
awaitable<bool> Session::Handshake() {
  watch_.fired = false;
  watch_.at = w_.now + w_.limits.client_header_timeout;
  co_return co_await tls_->Handshake(ec_);
}

awaitable<std::size_t> Session::ReadClient(asio::mutable_buffer b) {
  if (tls_) co_return co_await tls_->ReadSome(b, ec_);
  co_return co_await sock_.async_read_some(b, asio::redirect_error(use_awaitable, ec_));
}

// ---- 1. the request head --------------------------------------------------------------

awaitable<Session::Next> Session::ReadHead() {
  const ProxyLimits& limits = w_.limits;
  http1::HeadScanner scanner;
  method_.clear();
  auto tok = asio::redirect_error(use_awaitable, ec_);
  watch_.fired = false;
  watch_.idle_client = buf_.empty();
  watch_.idle_since = w_.now;
  watch_.trimmed = false;
  watch_.at = w_.now + (buf_.empty() ? limits.idle_timeout : limits.client_header_timeout);
  if (w_.shutting_down && buf_.empty()) {  // one more request may come, with a short wait
    watch_.at = std::min(watch_.at, w_.now + w_.ShutdownGrace());
  }
  buf_.Shrink(Worker::Impl::kClientBuf);
  http1::ParseResult pr;
  for (;;) {
    if (!buf_.empty()) {
      pr = http1::ParseRequestHead(buf_.view(), w_.parse_limits, &head_, &scanner);
      if (pr.status != http1::ParseStatus::kNeedMore) break;
    }
    if (buf_.empty() && watch_.trimmed) {
      // Idle for a while (the sweep cancelled the read to get here): park, holding nothing.
      // The check comes after the cancelled read: bytes that came in between are read now
      // instead of being parked with (a TLS session's read wait would only see bytes that
      // arrive after it starts; the lot would report them, after a park and a wake).
      TrimIdle();
      if (!Readable()) co_return Next::kPark;
      watch_.trimmed = false;
    }
    const bool held = buf_.held();
    auto space = buf_.Space(limits.max_header_bytes + 1024);
    std::size_t n = 0;
    if (tls_) {
      n = co_await tls_->ReadSome(space, ec_);
    } else if (buf_.empty() && !held) {
      // Waiting for a request with no buffer (a new or resumed connection): what is there
      // is read at once; otherwise the wait holds no buffer either (a connection between
      // requests costs its Session, not its buffer too). A connection that still holds
      // the buffer of its last request reads into it below: that wait costs no readiness
      // registration (Asio's read tries a recv, then waits on the registered socket),
      // and the idle sweep trims the buffer after kTrimIdleAfter.
      if (!TryRead(space, &n)) {
        buf_.Release();
        co_await sock_.async_wait(tcp::socket::wait_read, tok);
        if (!ec_) continue;  // readable: read it at the top (a failed wait is judged below)
      }
    } else {
      n = co_await sock_.async_read_some(space, tok);
    }
    if (ec_ == asio::error::operation_aborted && watch_.trimmed && !watch_.fired) continue;
    if (ec_) co_return Next::kClose;  // closed, reset, idle or header deadline passed
    if (watch_.idle_client) {
      watch_.idle_client = false;
      watch_.at = w_.now + limits.client_header_timeout;
    }
    buf_.Commit(n);
  }
  watch_.idle_client = false;
  if (pr.status == http1::ParseStatus::kError) {
    co_await SendError(pr.error_status, pr.error_reason, false);
    co_return Next::kClose;
  }
  r_ = Request{};
  r_.head_len = pr.head_length;
  r_.started = w_.clock.Now();
  method_.assign(head_.method);
  co_return Next::kRequest;
}

// ---- 2. checks and route ----------------------------------------------------------------

awaitable<Session::After> Session::Handle() {
  const ProxyLimits& limits = w_.limits;
  if (head_.form == http1::TargetForm::kAuthority) {
    // A reverse proxy for apps opens no tunnels: a pooled connection must never carry a
    // tunnel's bytes to another client.
    co_await SendError(501, "CONNECT is not supported", false);
    co_return After::kClose;
  }
  r_.framing = http1::RequestFraming(head_);
  if (!r_.framing.ok()) {
    co_await SendError(r_.framing.error_status, r_.framing.error_reason, false);
    co_return After::kClose;
  }
  if (r_.framing.kind == http1::BodyKind::kContentLength &&
      r_.framing.length > limits.max_body_bytes) {
    co_await SendError(413, "request body larger than the limit", false);
    co_return After::kClose;
  }
  http1::ParseConnection(head_.headers, &cinfo_);
  r_.keep = http1::KeepAlive(head_.version_minor, cinfo_) && !w_.shutting_down;
  r_.host = RequestHost(head_);
  r_.path = RoutePath(head_);
  r_.upgrade = cinfo_.upgrade && head_.Find("upgrade") &&
               r_.framing.kind == http1::BodyKind::kNone;
  if (w_.log.enabled()) {
    log_host_.assign(r_.host);
    log_path_.assign(head_.origin.empty() ? std::string_view("/") : head_.origin);
  }
  if (!tls_ && w_.tls) {
    After after = After::kClose;
    if (co_await ServeEdge(&after)) co_return after;
  }
  if (!Route()) {
    if (!r_.service) co_return co_await Reject(404, "no service for this host and path", true);
    r_.pool->stats->Record(503, 0, 0);
    co_return co_await Reject(503, "no healthy target for service '" + r_.service->name + "'",
                              true);
  }
  inflight_.Set(r_.target, r_.pool->stats.get());
  if (!PrepareUpstream()) {
    co_await SendError(400, req_chunks_.error(), false);
    co_return After::kClose;
  }
  const After after = co_await Respond();
  inflight_.Set(nullptr, nullptr);
  co_return after;
}

awaitable<bool> Session::ServeEdge(After* after) {
  static constexpr std::string_view kChallenge = "/.well-known/acme-challenge/";
  const std::string_view host = HostWithoutPort(r_.host);
  out_.clear();
  const bool keep = r_.keep && r_.framing.kind == http1::BodyKind::kNone;
  const bool head = method_ == "HEAD";
  if (r_.path.substr(0, kChallenge.size()) == kChallenge) {
    std::string_view token = r_.path.substr(kChallenge.size());
    token = token.substr(0, token.find('?'));
    auto key_authorization = w_.tls->HttpChallenge(token);
    if (!key_authorization) co_return false;  // the app may answer its own challenges
    AppendTextResponse(*key_authorization, keep, head, &out_);
  } else if (w_.options.redirect_http && w_.tls->Covers(host)) {
    std::string location = "https://";
    for (char c : host) location.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    if (w_.https_port != 443) location += ":" + std::to_string(w_.https_port);
    location.append(head_.origin.empty() ? std::string_view("/") : head_.origin);
    AppendRedirectResponse(location, keep, head, &out_);
  } else {
    co_return false;
  }
  co_await WriteClient(out_, {});
  *after = ec_ || !keep ? After::kClose : After::kNext;
  if (*after == After::kNext) buf_.Consume(r_.head_len);
  co_return true;
}

awaitable<Session::After> Session::Reject(int status, std::string_view detail,
                                          bool keep_if_no_body) {
  const bool keep = keep_if_no_body && r_.keep && r_.framing.kind == http1::BodyKind::kNone;
  co_await SendError(status, detail, keep);
  if (ec_ || !keep) co_return After::kClose;
  buf_.Consume(r_.head_len);
  co_return After::kNext;
}

bool Session::Route() {
  r_.table = w_.table;
  RouteChoice c = ChooseRoute(*r_.table, r_.host, r_.path, CookieBucket(head_), w_.Random(),
                              w_.options.balance, CandidateHeader(head_));
  r_.service = c.service;
  if (!r_.service) return false;
  r_.pool = c.pool;
  r_.pool_name = c.pool_name;
  r_.set_cookie_bucket = c.set_cookie_bucket;
  r_.target = c.target;
  return r_.target != nullptr;
}

// The upstream head in out_, and how much of the body came with the head.
bool Session::PrepareUpstream() {
  ChooseRequestId(head_, w_.Random(), w_.Random(), &request_id_);
  UpstreamContext ctx;
  ctx.client_ip = client_ip_;
  ctx.proto = tls_ ? "https" : "http";
  ctx.request_id = request_id_;
  ctx.target_address = r_.target->address.text;
  ctx.upgrade = r_.upgrade;
  out_.clear();
  r_.expect_continue =
      AppendUpstreamRequestHead(head_, cinfo_, r_.framing, ctx, &out_).expect_continue;
  r_.upstream_head_len = out_.size();
  const std::size_t after_head = buf_.size() - r_.head_len;
  if (r_.framing.kind == http1::BodyKind::kContentLength) {
    r_.prefix = std::min<std::uint64_t>(r_.framing.length, after_head);
    r_.body_complete = r_.prefix == r_.framing.length;
  } else if (r_.framing.kind == http1::BodyKind::kChunked) {
    req_chunks_.Reset();
    r_.prefix = req_chunks_.Feed(buf_.view().substr(r_.head_len));
    if (req_chunks_.failed()) return false;
    r_.body_complete = req_chunks_.done();
  }
  return true;
}

// ---- 3. exchange: get a response head from a target -------------------------------------

awaitable<Session::Outcome> Session::Exchange() {
  RetryPolicy retry(IsIdempotent(method_), r_.body_complete);
  for (;;) {
    bool reused = false;
    AttemptFailure failure{};
    Outcome o = co_await Attempt(&reused, &failure);
    if (o.response || o.abort || o.status != 0) co_return o;
    up_.reset();
    switch (retry.OnFailure(failure, reused)) {
      case RetryAction::kFreshConnection:
        // A dead pooled connection: its siblings are suspect too (the target restarted or
        // died), so drop them all, instead of spending every attempt on them.
        w_.pool.DropTarget(r_.target->id);
        continue;
      case RetryAction::kOtherTarget:
        if (Target* other = Pick(r_.pool->targets, w_.options.balance, &r_.pool->cursor,
                                 r_.target)) {
          r_.target = other;
          inflight_.Set(r_.target, r_.pool->stats.get());
          continue;
        }
        break;
      case RetryAction::kGiveUp:
        break;
    }
    co_return Failed(failure, o.reason);
  }
}

// One try: a connection (pooled or new), the head and body sent, the response head read.
// Returns an Outcome with response/abort/status set, or an empty one with `failure` set for
// the retry policy (and the reason in `reason`).
awaitable<Session::Outcome> Session::Attempt(bool* reused, AttemptFailure* failure) {
  Outcome o;
  up_ = w_.pool.Take(*r_.target);
  *reused = up_ != nullptr;
  if (!up_ && !co_await Connect(failure, &o.reason)) co_return o;
  up_->watch.sock = &up_->sock;
  up_->watch.target_id = r_.target->id;
  up_->watch.fired = false;
  if (!up_->watch.prev) w_.watches.Add(&up_->watch);
  up_->watch.at = w_.now + w_.limits.upstream_response_timeout;
  error_code uec;
  std::array<asio::const_buffer, 2> bufs = {
      asio::buffer(out_.data(), r_.upstream_head_len),
      asio::buffer(buf_.view().data() + r_.head_len, r_.prefix)};
  uec = co_await SendRequest(*up_, bufs, *reused && r_.body_complete);
  if (uec) {
    *failure = AttemptFailure::kSendFailed;
    o.reason = "sending the request failed";
    co_return o;
  }
  if (!r_.body_complete) {
    Outcome b = co_await StreamBody();
    if (b.abort) co_return b;
  }
  if (co_await ReadResponseHead(failure, &o)) o.response = true;
  co_return o;
}

awaitable<bool> Session::Connect(AttemptFailure* failure, std::string* reason) {
  up_ = co_await ConnectTarget(w_, r_.pool->Owner(r_.target), failure, reason);
  co_return up_ != nullptr;
}

// The rest of a request body, from the client to the target (after 100 Continue when the
// client waits for it). Any failure here ends the connection.
awaitable<Session::Outcome> Session::StreamBody() {
  const ProxyLimits& limits = w_.limits;
  Outcome abort;
  abort.abort = true;
  if (r_.expect_continue) {
    static constexpr std::string_view k100 = "HTTP/1.1 100 Continue\r\n\r\n";
    co_await WriteClient(k100, {});
    if (ec_) co_return abort;
  }
  buf_.Consume(r_.head_len + r_.prefix);
  std::uint64_t remaining = r_.framing.kind == http1::BodyKind::kContentLength
                                ? r_.framing.length - r_.prefix
                                : 0;
  for (bool done = false; !done;) {
    watch_.at = w_.now + limits.client_body_timeout;
    std::size_t n = co_await ReadClient(buf_.Space(Worker::Impl::kClientBuf));
    if (ec_) co_return abort;  // the client went away mid-body: drop both connections
    buf_.Commit(n);
    std::size_t take;
    if (r_.framing.kind == http1::BodyKind::kContentLength) {
      take = std::min<std::uint64_t>(remaining, buf_.size());
      remaining -= take;
      done = remaining == 0;
    } else {
      take = req_chunks_.Feed(buf_.view());
      if (req_chunks_.failed()) {
        co_await SendError(400, req_chunks_.error(), false);
        co_return abort;
      }
      if (req_chunks_.data_bytes() > limits.max_body_bytes) {
        co_await SendError(413, "request body larger than the limit", false);
        co_return abort;
      }
      done = req_chunks_.done();
    }
    error_code uec;
    up_->watch.at = w_.now + limits.upstream_response_timeout;
    co_await asio::async_write(up_->sock, asio::buffer(buf_.view().data(), take),
                               asio::redirect_error(use_awaitable, uec));
    if (uec) {
      co_await SendError(502, "target " + TargetText() + ": sending the body failed", false);
      co_return abort;
    }
    buf_.Consume(take);
  }
  co_return Outcome{};
}

// Reads the response head into up_->buf and resp_, skipping interim 1xx responses (but
// 101). True when it is there; false with `failure` for the retry policy, or with `fatal`
// set to an error that is answered as it is.
awaitable<bool> Session::ReadResponseHead(AttemptFailure* failure, Outcome* fatal) {
  HeadRead h = co_await ReadTargetResponseHead(w_, *up_, &resp_);
  if (h.ok) {
    r_.resp_head_len = h.head_len;
    co_return true;
  }
  if (h.fatal) {
    *fatal = Outcome{false, false, 502, "target " + TargetText() + ": " + h.reason};
  } else {
    *failure = h.failure;
    fatal->reason = std::move(h.reason);
  }
  co_return false;
}

Session::Outcome Session::Failed(AttemptFailure f, const std::string& reason) const {
  const bool timed_out =
      f == AttemptFailure::kConnectTimedOut || f == AttemptFailure::kResponseTimedOut;
  return Outcome{false, false, timed_out ? 504 : 502, "target " + TargetText() + ": " + reason};
}

std::string Session::TargetText() const { return r_.target->address.text; }

// ---- 4. the response ---------------------------------------------------------------------

awaitable<Session::After> Session::Respond() {
  Outcome o = co_await Exchange();
  if (o.abort) co_return After::kClose;
  if (!o.response) {
    up_.reset();
    const bool keep = r_.keep && r_.body_complete;
    co_await SendError(o.status, o.reason, keep);
    r_.pool->stats->Record(o.status, 0, 0);
    if (ec_ || !keep) co_return After::kClose;
    buf_.Consume(r_.head_len + r_.prefix);
    co_return After::kNext;
  }
  http1::Framing rf = http1::ResponseFraming(resp_, method_);
  const bool switching = resp_.status == 101;
  if (switching && !r_.upgrade) {
    up_.reset();
    co_await SendError(502, "target answered 101 to a request without Upgrade", false);
    co_return After::kClose;
  }
  if (!rf.ok()) {
    up_.reset();
    co_await SendError(502, "target " + TargetText() + ": " + rf.error_reason, false);
    r_.pool->stats->Record(502, 0, 0);
    co_return After::kClose;
  }
  http1::ParseConnection(resp_.headers, &rinfo_);
  if (rf.kind == http1::BodyKind::kUntilClose || !r_.body_complete) r_.keep = false;
  DownstreamContext ctx;
  ctx.keep_alive = r_.keep;
  ctx.client_minor = head_.version_minor;
  ctx.switching = switching;
  if (switching) ctx.upgrade = head_.Find("upgrade")->value;
  ctx.set_cookie_bucket = r_.set_cookie_bucket;
  if (tls_) ctx.hsts = r_.service->hsts;
  out_.clear();
  AppendDownstreamResponseHead(resp_, rinfo_, rf, ctx, &out_);
  up_->buf.Consume(r_.resp_head_len);
  const int status = resp_.status;
  const bool upstream_keep = http1::KeepAlive(resp_.version_minor, rinfo_) &&
                             rf.kind != http1::BodyKind::kUntilClose && !switching;

  std::uint64_t body_bytes = 0;
  const RelayEnd end = co_await Relay(rf, out_, &body_bytes);
  if (end == RelayEnd::kAnswered) co_return After::kClose;
  if (switching && end == RelayEnd::kComplete) {
    buf_.Consume(r_.head_len);
    co_await Tunnel();
    r_.pool->stats->Record(101, MicrosSince(r_.started, w_.clock.Now()), body_bytes);
    co_return After::kClose;
  }
  Finish(status, body_bytes);
  // Pool the upstream connection only when the exchange ended cleanly.
  if (end == RelayEnd::kComplete && upstream_keep && !w_.shutting_down) {
    w_.pool.Put(std::move(up_), w_.now);
  }
  up_.reset();
  // A truncated response: the client must see the connection end.
  if (end != RelayEnd::kComplete || !r_.keep) co_return After::kClose;
  if (r_.body_complete) buf_.Consume(r_.head_len + r_.prefix);
  co_return After::kNext;
}

// Passes the response body on as framed by `rf`, `head_out` first.
awaitable<Session::RelayEnd> Session::Relay(const http1::Framing& rf, std::string_view head_out,
                                            std::uint64_t* body_bytes) {
  error_code uec;
  auto read_more = [&]() -> awaitable<bool> {
    up_->watch.at = w_.now + w_.limits.upstream_response_timeout;
    std::size_t n = co_await up_->sock.async_read_some(up_->buf.Space(kUpstreamBuf),
                                                       asio::redirect_error(use_awaitable, uec));
    if (uec) co_return false;
    up_->buf.Commit(n);
    co_return true;
  };
  auto send = [&](std::string_view body) -> awaitable<bool> {
    co_await WriteClient(head_out, body);
    head_out = {};
    *body_bytes += body.size();
    co_return !ec_;
  };
  switch (rf.kind) {
    case http1::BodyKind::kNone:
      co_return co_await send({}) ? RelayEnd::kComplete : RelayEnd::kClientGone;
    case http1::BodyKind::kContentLength:
      for (std::uint64_t remaining = rf.length;;) {
        std::size_t take = std::min<std::uint64_t>(remaining, up_->buf.size());
        if (!co_await send(up_->buf.view().substr(0, take))) co_return RelayEnd::kClientGone;
        up_->buf.Consume(take);
        remaining -= take;
        if (remaining == 0) co_return RelayEnd::kComplete;
        if (!co_await read_more()) break;
      }
      break;
    case http1::BodyKind::kChunked:
      resp_chunks_.Reset();
      for (;;) {
        std::size_t take = resp_chunks_.Feed(up_->buf.view());
        if (resp_chunks_.failed()) {
          if (head_out.empty()) break;
          // Nothing sent yet: the client can still be told.
          co_await SendError(502, "target " + TargetText() + ": " + resp_chunks_.error(), false);
          r_.pool->stats->Record(502, 0, 0);
          co_return RelayEnd::kAnswered;
        }
        if (!co_await send(up_->buf.view().substr(0, take))) co_return RelayEnd::kClientGone;
        up_->buf.Consume(take);
        if (resp_chunks_.done()) co_return RelayEnd::kComplete;
        if (!co_await read_more()) break;
      }
      break;
    case http1::BodyKind::kUntilClose:
      for (;;) {
        std::size_t take = up_->buf.size();
        if (!co_await send(up_->buf.view())) co_return RelayEnd::kClientGone;
        up_->buf.Consume(take);
        if (!co_await read_more()) {
          // EOF ends the body normally.
          const bool eof = uec == asio::error::eof && !up_->watch.fired;
          co_return eof ? RelayEnd::kComplete : RelayEnd::kTargetFailed;
        }
      }
  }
  co_return RelayEnd::kTargetFailed;
}

awaitable<void> Session::WriteClient(std::string_view a, std::string_view b) {
  watch_.at = w_.now + w_.limits.client_body_timeout;
  if (tls_) {
    co_await tls_->Write(a, b, ec_);
    co_return;
  }
  std::array<asio::const_buffer, 2> bufs = {asio::buffer(a.data(), a.size()),
                                            asio::buffer(b.data(), b.size())};
  co_await asio::async_write(sock_, bufs, asio::redirect_error(use_awaitable, ec_));
}

// Records the request in the pool's statistics and the access log.
void Session::Finish(int status, std::uint64_t body_bytes) {
  const Clock::TimePoint finished = w_.clock.Now();
  const std::uint64_t micros = MicrosSince(r_.started, finished);
  r_.pool->stats->Record(status, micros, body_bytes);
  if (!w_.log.enabled()) return;
  AccessRecord rec;
  rec.wall_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                    w_.clock.WallNow().time_since_epoch())
                    .count();
  rec.request_id = request_id_;
  rec.method = method_;
  rec.host = log_host_;
  rec.path = log_path_;
  rec.status = status;
  rec.bytes = body_bytes;
  rec.micros = micros;
  rec.service = r_.service->name;
  rec.pool = r_.pool_name;
  rec.target = r_.target->address.text;
  w_.log.Append(rec);
}

// ---- 5. tunnel (WebSocket or another upgraded protocol) ------------------------------------

awaitable<void> Session::Tunnel() {
  asio::steady_timer done_timer(w_.io, Clock::Duration::max());
  bool other_done = false;
  const auto idle = w_.limits.idle_timeout * 60;
  // One direction: `from_client` reads the client (plain or TLS) and writes the target,
  // else the other way round.
  auto pump = [this, idle](bool from_client) -> awaitable<void> {
    Buffer& b = from_client ? buf_ : up_->buf;
    Watch& wf = from_client ? watch_ : up_->watch;
    Watch& wt = from_client ? up_->watch : watch_;
    error_code ec;
    auto t = asio::redirect_error(use_awaitable, ec);
    for (;;) {
      if (!b.empty()) {
        wt.at = w_.now + idle;
        if (!from_client && tls_) {
          co_await tls_->Write(b.view(), {}, ec);
        } else {
          tcp::socket& to = from_client ? up_->sock : sock_;
          co_await asio::async_write(to, asio::buffer(b.view().data(), b.size()), t);
        }
        if (ec) break;
        b.Consume(b.size());
      }
      wf.at = w_.now + idle;
      std::size_t n = 0;
      if (from_client && tls_) {
        n = co_await tls_->ReadSome(b.Space(kUpstreamBuf), ec);
      } else {
        tcp::socket& from = from_client ? sock_ : up_->sock;
        n = co_await from.async_read_some(b.Space(kUpstreamBuf), t);
      }
      if (ec) break;
      b.Commit(n);
    }
    error_code ignored;
    if (!from_client && tls_) tls_->Close();
    (from_client ? up_->sock : sock_).shutdown(tcp::socket::shutdown_send, ignored);
    // Give the other direction a little time to finish, then close.
    wf.at = wt.at = w_.now + std::chrono::seconds(5);
  };
  asio::co_spawn(w_.io, pump(true), [&](std::exception_ptr) {
    other_done = true;
    done_timer.cancel();
  });
  co_await pump(false);
  while (!other_done) {
    error_code ec;
    co_await done_timer.async_wait(asio::redirect_error(use_awaitable, ec));
  }
}

// ---- errors ------------------------------------------------------------------------------

// Writes a short error page; the connection closes afterwards unless `keep`.
awaitable<void> Session::SendError(int status, std::string_view detail, bool keep) {
  out_.clear();
  AppendErrorResponse(status, detail, keep, method_ == "HEAD", &out_);
  co_await WriteClient(out_, {});
}

}  // namespace gravity::proxy
