// The data plane: one event loop per worker thread; client sessions as coroutines.
//
// Timeouts: every socket in use has a Watch (a deadline in an intrusive per-worker list).
// A sweep every 100 ms closes sockets whose deadline passed; the coroutine blocked on that
// socket then fails its operation and sees `fired`. This costs no timer operations per
// request.

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <ctime>

#include "common/http1.h"
#include "proxy/internal.h"

namespace gravity::proxy {

namespace {

using asio::awaitable;
using asio::use_awaitable;

constexpr std::size_t kClientBufInitial = 4096;
constexpr std::size_t kUpstreamBuf = 16 * 1024;
constexpr auto kSweepInterval = std::chrono::milliseconds(100);
constexpr std::size_t kLogFlushBytes = 64 * 1024;

struct Watch {
  Watch* prev = nullptr;
  Watch* next = nullptr;
  Clock::TimePoint at = Clock::TimePoint::max();
  tcp::socket* sock = nullptr;
  bool fired = false;
  bool idle_client = false;     // a client connection waiting for its next request
  std::uint64_t target_id = 0;  // an upstream connection: its target
};

class WatchList {
 public:
  WatchList() { head_.next = head_.prev = &head_; }
  void Add(Watch* w) {
    w->next = head_.next;
    w->prev = &head_;
    head_.next->prev = w;
    head_.next = w;
  }
  static void Remove(Watch* w) {
    if (!w->prev) return;
    w->prev->next = w->next;
    w->next->prev = w->prev;
    w->prev = w->next = nullptr;
  }
  template <class F>
  void ForEach(F f) {
    for (Watch* w = head_.next; w != &head_;) {
      Watch* n = w->next;
      f(w);
      w = n;
    }
  }

 private:
  Watch head_;
};

// A byte buffer read into at the end and consumed at the front.
class Buffer {
 public:
  explicit Buffer(std::size_t cap) : data_(new char[cap]), cap_(cap) {}
  std::string_view view() const { return {data_.get() + begin_, end_ - begin_}; }
  std::size_t size() const { return end_ - begin_; }
  bool empty() const { return begin_ == end_; }
  void Consume(std::size_t n) {
    begin_ += n;
    if (begin_ >= end_) begin_ = end_ = 0;
  }
  // Room to read into; compacts, and grows up to max_cap. Empty when full at max_cap.
  asio::mutable_buffer Space(std::size_t max_cap) {
    if (end_ == cap_ && begin_ > 0) {
      std::memmove(data_.get(), data_.get() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    if (end_ == cap_ && cap_ < max_cap) {
      std::size_t cap = std::min(cap_ * 2, max_cap);
      std::unique_ptr<char[]> d(new char[cap]);
      std::memcpy(d.get(), data_.get(), end_);
      data_ = std::move(d);
      cap_ = cap;
    }
    return asio::buffer(data_.get() + end_, cap_ - end_);
  }
  void Commit(std::size_t n) { end_ += n; }
  // Returns to `cap` bytes when empty and larger (idle connections stay small).
  void Shrink(std::size_t cap) {
    if (empty() && cap_ > cap) {
      data_.reset(new char[cap]);
      cap_ = cap;
      begin_ = end_ = 0;
    }
  }

 private:
  std::unique_ptr<char[]> data_;
  std::size_t cap_;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
};

struct UpstreamConn {
  explicit UpstreamConn(asio::io_context& io) : sock(io) {}
  ~UpstreamConn() { WatchList::Remove(&watch); }
  tcp::socket sock;
  std::shared_ptr<Target> target;
  Buffer buf{kUpstreamBuf};
  Clock::TimePoint idle_since{};
  Watch watch;
};

// An idle pooled connection must have nothing to read: bytes a target sent after its
// response (or its close) would otherwise be taken as the next client's response.
bool QuietIdle(tcp::socket& sock) {
  char byte;
  ssize_t n = ::recv(sock.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

bool IsIdempotent(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS";
}

void AppendJsonString(std::string* out, std::string_view s) {
  out->push_back('"');
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(static_cast<char>(c));
    } else if (c < 0x20 || c >= 0x7f) {
      fmt::format_to(std::back_inserter(*out), "\\u{:04x}", c);
    } else {
      out->push_back(static_cast<char>(c));
    }
  }
  out->push_back('"');
}

// Reads the canary bucket (0-99) from the "gravity_bucket" cookie; -1 when absent.
int CookieBucket(const http1::RequestHead& head) {
  for (const auto& h : head.headers) {
    if (!http1::EqualsIgnoreCase(h.name, "cookie")) continue;
    std::string_view v = h.value;
    std::size_t p = v.find("gravity_bucket=");
    while (p != std::string_view::npos) {
      if (p == 0 || v[p - 1] == ' ' || v[p - 1] == ';') {
        std::size_t i = p + 15;
        int n = 0;
        int digits = 0;
        while (i < v.size() && v[i] >= '0' && v[i] <= '9' && digits < 3) {
          n = n * 10 + (v[i] - '0');
          ++i;
          ++digits;
        }
        if (digits > 0 && n < 100) return n;
        return -1;
      }
      p = v.find("gravity_bucket=", p + 1);
    }
  }
  return -1;
}

}  // namespace

struct Worker::Impl {
  Impl(Worker* owner_in, int index_in, const ServerOptions& options_in, Clock& clock_in,
       PassiveFailureFn on_failure_in, AccessLogSink log_in)
      : owner(owner_in),
        index(index_in),
        options(options_in),
        limits(options.limits),
        clock(clock_in),
        on_failure(std::move(on_failure_in)),
        log(log_in) {
    parse_limits.max_head_bytes = limits.max_header_bytes;
    parse_limits.max_headers = limits.max_headers;
    now = clock.Now();
    rng = 0x9E3779B97F4A7C15ull ^ (static_cast<std::uint64_t>(index) << 32) ^
          static_cast<std::uint64_t>(clock.Now().time_since_epoch().count()) ^
          reinterpret_cast<std::uintptr_t>(this);
  }

  ~Impl() {
    idle.clear();  // their sockets belong to io
    error_code ec;
    acceptor.close(ec);
  }

  std::uint64_t Random() {
    // xorshift64*
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 0x2545F4914F6CDD1Dull;
  }

  awaitable<void> AcceptLoop();
  awaitable<void> Serve(tcp::socket sock);
  void ScheduleSweep();
  void Sweep();
  void FlushLog();
  void CloseReadableIdle();
  std::unique_ptr<UpstreamConn> TakeIdle(const Target* t);
  void Release(std::unique_ptr<UpstreamConn> c, bool reusable);
  void PruneIdle(bool all_unlisted);

  Worker* owner;
  const int index;
  const ServerOptions options;
  const ProxyLimits& limits;
  Clock& clock;
  PassiveFailureFn on_failure;
  AccessLogSink log;
  http1::Limits parse_limits;

  Clock::TimePoint now;  // refreshed by the sweep: deadlines are within kSweepInterval
  std::uint64_t rng;
  std::shared_ptr<const RouteTable> table = std::make_shared<RouteTable>();
  std::vector<Worker*> peers;  // set by Listen: the workers this one accepts for
  std::uint32_t next_peer = 0;
  WatchList watches;  // declared before io: coroutine frames destroyed with io unlink from it
  std::unordered_map<std::uint64_t, std::vector<std::unique_ptr<UpstreamConn>>> idle;
  std::vector<pollfd> poll_fds;  // CloseReadableIdle's scratch space
  std::string log_buf;
  bool shutting_down = false;
  asio::io_context io{1};
  tcp::acceptor acceptor{io};
  asio::steady_timer sweep_timer{io};
};

namespace {

// Everything one client connection needs; lives in the Serve coroutine's frame.
struct Session {
  Session(Worker::Impl& w_in, tcp::socket s) : w(w_in), sock(std::move(s)) {}
  Worker::Impl& w;
  tcp::socket sock;
  Watch watch;
  Buffer buf{kClientBufInitial};
  http1::RequestHead head;
  http1::ResponseHead resp;
  http1::ConnectionInfo cinfo;
  http1::ConnectionInfo rinfo;
  http1::ChunkedDecoder req_chunks;
  http1::ChunkedDecoder resp_chunks;
  std::string out;
  std::string client_ip;
  std::string request_id;
  std::string log_host;
  std::string log_path;
  std::string method;
  error_code ec;
};

struct WatchGuard {
  WatchGuard(WatchList& l, Watch* w) : watch(w) { l.Add(w); }
  ~WatchGuard() { WatchList::Remove(watch); }
  Watch* watch;
};

struct InflightGuard {
  InflightGuard() = default;
  InflightGuard(const InflightGuard&) = delete;
  InflightGuard& operator=(const InflightGuard&) = delete;
  ~InflightGuard() { Set(nullptr); }
  void Set(Target* t) {
    if (target) target->inflight.fetch_sub(1, std::memory_order_relaxed);
    target = t;
    if (target) target->inflight.fetch_add(1, std::memory_order_relaxed);
  }
  Target* target = nullptr;
};

// Takes over a count the acceptor raised when it handed the connection over.
struct CountGuard {
  explicit CountGuard(std::atomic<std::int64_t>& c) : count(c) {}
  ~CountGuard() { count.fetch_sub(1); }
  std::atomic<std::int64_t>& count;
};

}  // namespace

awaitable<void> Worker::Impl::AcceptLoop() {
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
    co_await acceptor.async_accept(sock, asio::redirect_error(use_awaitable, ec));
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
      if (ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space) {
        spdlog::warn("proxy: accept failed: {}", ec.message());
        asio::steady_timer t(io, std::chrono::milliseconds(50));
        co_await t.async_wait(asio::redirect_error(use_awaitable, ec));
      }
      continue;
    }
    sock.set_option(tcp::no_delay(true), ec);
    to->connections_.fetch_add(1, std::memory_order_relaxed);
    // Serve runs on the receiving worker's thread (co_spawn posts there).
    asio::co_spawn(dst->io, dst->Serve(std::move(sock)), asio::detached);
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

void Worker::Impl::Sweep() {
  now = clock.Now();
  watches.ForEach([&](Watch* w) {
    if (!w->fired && w->at <= now && w->sock) {
      w->fired = true;
      error_code ec;
      w->sock->close(ec);
    }
  });
  for (auto it = idle.begin(); it != idle.end();) {
    auto& v = it->second;
    std::erase_if(v, [&](const std::unique_ptr<UpstreamConn>& c) {
      return c->idle_since + limits.upstream_idle_timeout <= now;
    });
    it = v.empty() ? idle.erase(it) : std::next(it);
  }
  CloseReadableIdle();
  FlushLog();
}

// Watches the idle pool: one poll() per sweep over every idle connection; one that turned
// readable (stray bytes, EOF, error) is closed, never reused.
void Worker::Impl::CloseReadableIdle() {
  poll_fds.clear();
  for (auto& [id, v] : idle) {
    for (auto& c : v) poll_fds.push_back(pollfd{c->sock.native_handle(), POLLIN, 0});
  }
  if (poll_fds.empty() || ::poll(poll_fds.data(), poll_fds.size(), 0) <= 0) return;
  std::size_t i = 0;
  for (auto it = idle.begin(); it != idle.end();) {
    auto& v = it->second;
    std::erase_if(v, [&](const std::unique_ptr<UpstreamConn>&) { return poll_fds[i++].revents != 0; });
    it = v.empty() ? idle.erase(it) : std::next(it);
  }
}

void Worker::Impl::FlushLog() {
  if (log.fd < 0 || log_buf.empty()) return;
  const char* p = log_buf.data();
  std::size_t left = log_buf.size();
  while (left > 0) {
    ssize_t n = ::write(log.fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  log_buf.clear();
}

std::unique_ptr<UpstreamConn> Worker::Impl::TakeIdle(const Target* t) {
  auto it = idle.find(t->id);
  if (it == idle.end()) return nullptr;
  while (!it->second.empty()) {
    std::unique_ptr<UpstreamConn> c = std::move(it->second.back());
    it->second.pop_back();
    if (c->sock.is_open() && QuietIdle(c->sock)) return c;
  }
  return nullptr;
}

void Worker::Impl::Release(std::unique_ptr<UpstreamConn> c, bool reusable) {
  if (!reusable || shutting_down || !c->sock.is_open() || !c->buf.empty() ||
      c->target->draining.load(std::memory_order_relaxed) ||
      c->target->retired.load(std::memory_order_relaxed)) {
    return;  // the socket closes with the object
  }
  auto& v = idle[c->target->id];
  if (v.size() >= limits.max_idle_upstream_per_target) return;
  c->idle_since = now;
  c->watch.fired = false;
  v.push_back(std::move(c));
}

void Worker::Impl::PruneIdle(bool /*all_unlisted*/) {
  std::vector<std::uint64_t> live;
  for (const auto& s : table->services) {
    for (const PoolSnapshot* p : {s->main.get(), s->canary.get()}) {
      if (!p) continue;
      for (const auto& t : p->targets) live.push_back(t->id);
    }
  }
  for (auto it = idle.begin(); it != idle.end();) {
    bool keep = std::find(live.begin(), live.end(), it->first) != live.end();
    it = keep ? std::next(it) : idle.erase(it);
  }
}

awaitable<void> Worker::Impl::Serve(tcp::socket sock_in) {
  CountGuard connections(owner->connections_);
  Session s(*this, std::move(sock_in));
  s.watch.sock = &s.sock;
  WatchGuard watch_guard(watches, &s.watch);
  {
    error_code ec;
    auto ep = s.sock.remote_endpoint(ec);
    if (!ec) s.client_ip = ep.address().to_string();
  }
  auto tok = asio::redirect_error(use_awaitable, s.ec);
  const bool logging = log.fd >= 0;

  // Writes a short error page. Closes the connection unless `keep`.
  auto send_error = [&](int status, std::string_view detail, bool keep) -> awaitable<void> {
    std::string body = fmt::format("{} {}\n{}\n", status, http1::ReasonPhrase(status), detail);
    s.out.clear();
    fmt::format_to(std::back_inserter(s.out),
                   "HTTP/1.1 {} {}\r\nContent-Type: text/plain; charset=utf-8\r\n"
                   "Content-Length: {}\r\n{}\r\n",
                   status, http1::ReasonPhrase(status), body.size(),
                   keep ? "" : "Connection: close\r\n");
    if (s.method != "HEAD") s.out += body;
    s.watch.at = now + limits.client_body_timeout;
    co_await asio::async_write(s.sock, asio::buffer(s.out), tok);
  };

  for (;;) {
    // ---- 1. the request head ------------------------------------------------------
    http1::HeadScanner scanner;
    s.method.clear();
    s.watch.fired = false;
    s.watch.idle_client = s.buf.empty();
    s.watch.at = now + (s.buf.empty() ? limits.idle_timeout : limits.client_header_timeout);
    http1::ParseResult pr;
    for (;;) {
      if (!s.buf.empty()) {
        pr = http1::ParseRequestHead(s.buf.view(), parse_limits, &s.head, &scanner);
        if (pr.status != http1::ParseStatus::kNeedMore) break;
      } else {
        s.buf.Shrink(kClientBufInitial);
        if (shutting_down) co_return;
      }
      auto space = s.buf.Space(limits.max_header_bytes + 1024);
      std::size_t n = co_await s.sock.async_read_some(space, tok);
      if (s.ec) co_return;  // closed, reset, idle or header deadline passed
      if (s.watch.idle_client) {
        s.watch.idle_client = false;
        s.watch.at = now + limits.client_header_timeout;
      }
      s.buf.Commit(n);
    }
    s.watch.idle_client = false;
    if (pr.status == http1::ParseStatus::kError) {
      co_await send_error(pr.error_status, pr.error_reason, false);
      co_return;
    }
    const std::size_t head_len = pr.head_length;
    const http1::RequestHead& head = s.head;
    const Clock::TimePoint started = clock.Now();
    s.method.assign(head.method);
    if (head.form == http1::TargetForm::kAuthority) {
      // A reverse proxy for apps opens no tunnels: a pooled connection must never carry
      // a tunnel's bytes to another client.
      co_await send_error(501, "CONNECT is not supported", false);
      co_return;
    }
    http1::Framing framing = http1::RequestFraming(head);
    if (!framing.ok()) {
      co_await send_error(framing.error_status, framing.error_reason, false);
      co_return;
    }
    http1::ParseConnection(head.headers, &s.cinfo);
    bool client_keep = http1::KeepAlive(head.version_minor, s.cinfo) && !shutting_down;
    const http1::Header* host_h = head.Find("host");
    // An absolute-form target's authority wins over Host (RFC 9112 3.2.2): it routes the
    // request and becomes the Host sent upstream.
    const bool absolute = head.form == http1::TargetForm::kAbsolute;
    std::string_view host = absolute ? head.authority
                            : host_h ? host_h->value
                                     : std::string_view();
    std::string_view path = head.origin;
    const http1::Header* upgrade_h = head.Find("upgrade");
    const bool upgrade = s.cinfo.upgrade && upgrade_h && framing.kind == http1::BodyKind::kNone;
    if (framing.kind == http1::BodyKind::kContentLength && framing.length > limits.max_body_bytes) {
      co_await send_error(413, "request body larger than the limit", false);
      co_return;
    }
    if (logging) {
      s.log_host.assign(host);
      s.log_path.assign(path);
    }
    const bool no_body = framing.kind == http1::BodyKind::kNone;

    // ---- 2. route ------------------------------------------------------------------
    std::shared_ptr<const RouteTable> tbl = table;
    int route = tbl->router.Match(
        host, path.empty() || path.front() != '/' ? std::string_view("/") : path);
    if (route < 0) {
      co_await send_error(404, "no service for this host and path", client_keep && no_body);
      if (s.ec || !(client_keep && no_body)) co_return;
      s.buf.Consume(head_len);
      continue;
    }
    const ServiceSnapshot& svc = *tbl->services[route];
    const PoolSnapshot* pool = svc.main.get();
    const char* pool_name = "main";
    int bucket = -1;
    bool set_cookie = false;
    if (svc.canary && svc.canary_weight > 0) {
      bucket = CookieBucket(head);
      if (bucket < 0) {
        bucket = static_cast<int>(Random() % 100);
        set_cookie = true;
      }
      if (bucket < svc.canary_weight) {
        pool = svc.canary.get();
        pool_name = "canary";
      }
    }
    Balance balance = options.balance;
    Target* target = Pick(pool->targets, balance, &pool->cursor);
    if (!target && pool != svc.main.get()) {
      pool = svc.main.get();
      pool_name = "main";
      target = Pick(pool->targets, balance, &pool->cursor);
    }
    if (!target) {
      co_await send_error(503, "no healthy target for service '" + svc.name + "'",
                          client_keep && no_body);
      pool->stats->Record(503, 0, 0);
      if (s.ec || !(client_keep && no_body)) co_return;
      s.buf.Consume(head_len);
      continue;
    }
    pool->stats->inflight.fetch_add(1, std::memory_order_relaxed);
    struct PoolInflight {
      PoolStats* st;
      ~PoolInflight() { st->inflight.fetch_sub(1, std::memory_order_relaxed); }
    } pool_inflight{pool->stats.get()};
    InflightGuard inflight;
    inflight.Set(target);

    // ---- 3. the upstream request head --------------------------------------------------
    const http1::Header* rid = head.Find("x-request-id");
    if (rid && !rid->value.empty() && rid->value.size() <= 128) {
      s.request_id.assign(rid->value);
    } else {
      s.request_id.clear();
      fmt::format_to(std::back_inserter(s.request_id), "{:016x}{:016x}", Random(), Random());
    }
    bool expect_continue = false;
    s.out.clear();
    s.out.append(head.method).append(" ");
    if (head.form != http1::TargetForm::kAsterisk && (path.empty() || path.front() != '/')) {
      s.out.push_back('/');  // "http://host" and "http://host?q" have an empty path
    }
    s.out.append(path).append(" HTTP/1.1\r\n");
    if (absolute || !host_h) {
      // Upstream is HTTP/1.1, which needs a Host: the URL's authority, or for an HTTP/1.0
      // request without one, the target's address.
      s.out.append("Host: ").append(absolute ? head.authority : target->address.text);
      s.out.append("\r\n");
    }
    std::string_view prior_xff;
    for (const auto& h : head.headers) {
      if (http1::IsHopByHop(h.name, s.cinfo)) continue;
      if ((absolute && &h == host_h) || http1::EqualsIgnoreCase(h.name, "content-length") ||
          http1::EqualsIgnoreCase(h.name, "x-forwarded-proto") ||
          http1::EqualsIgnoreCase(h.name, "x-forwarded-host") ||
          http1::EqualsIgnoreCase(h.name, "x-request-id")) {
        continue;
      }
      if (http1::EqualsIgnoreCase(h.name, "x-forwarded-for")) {
        prior_xff = h.value;  // keeps the last one; chains are joined below
        continue;
      }
      if (http1::EqualsIgnoreCase(h.name, "expect")) {
        if (http1::EqualsIgnoreCase(h.value, "100-continue")) expect_continue = true;
        continue;
      }
      s.out.append(h.name).append(": ").append(h.value).append("\r\n");
    }
    s.out.append("X-Forwarded-For: ");
    if (!prior_xff.empty()) s.out.append(prior_xff).append(", ");
    s.out.append(s.client_ip).append("\r\nX-Forwarded-Proto: http\r\n");
    if (!host.empty()) s.out.append("X-Forwarded-Host: ").append(host).append("\r\n");
    s.out.append("X-Request-Id: ").append(s.request_id).append("\r\n");
    if (framing.kind == http1::BodyKind::kContentLength) {
      fmt::format_to(std::back_inserter(s.out), "Content-Length: {}\r\n", framing.length);
    } else if (framing.kind == http1::BodyKind::kChunked) {
      s.out.append("Transfer-Encoding: chunked\r\n");
    }
    if (upgrade)
      s.out.append("Connection: Upgrade\r\nUpgrade: ").append(upgrade_h->value).append("\r\n");
    s.out.append("\r\n");
    const std::size_t upstream_head_len = s.out.size();

    // The part of the body already read.
    std::size_t prefix = 0;
    bool body_complete = true;
    if (framing.kind == http1::BodyKind::kContentLength) {
      prefix = std::min<std::uint64_t>(framing.length, s.buf.size() - head_len);
      body_complete = prefix == framing.length;
    } else if (framing.kind == http1::BodyKind::kChunked) {
      s.req_chunks.Reset();
      prefix = s.req_chunks.Feed(s.buf.view().substr(head_len));
      if (s.req_chunks.failed()) {
        co_await send_error(400, s.req_chunks.error(), false);
        co_return;
      }
      body_complete = s.req_chunks.done();
    }
    const bool idempotent = IsIdempotent(s.method);

    // ---- 4. exchange with a target (retrying where that is safe) -------------------
    std::unique_ptr<UpstreamConn> up;
    bool retried_target = false;
    bool head_parsed = false;
    int fail_status = 0;
    std::string fail_reason;
    std::size_t resp_head_len = 0;
    for (int attempt = 0; attempt < 4 && !head_parsed; ++attempt) {
      fail_status = 0;
      bool reused = false;
      up = TakeIdle(target);
      if (up) {
        reused = true;
      } else {
        up = std::make_unique<UpstreamConn>(io);
        up->target = nullptr;
        // Find the shared_ptr for the target (kept alive while the request runs).
        for (const auto& t : pool->targets) {
          if (t.get() == target) up->target = t;
        }
        error_code ec;
        tcp::endpoint ep(asio::ip::make_address(target->address.host, ec), target->address.port);
        up->watch.sock = &up->sock;
        up->watch.target_id = target->id;
        up->watch.at = now + limits.upstream_connect_timeout;
        up->watch.fired = false;
        watches.Add(&up->watch);
        co_await up->sock.async_connect(ep, asio::redirect_error(use_awaitable, ec));
        if (ec) {
          bool timed_out = up->watch.fired;
          std::string reason =
              timed_out ? "timed out after connecting for " +
                              std::to_string(limits.upstream_connect_timeout.count()) + "ms"
              : ec == asio::error::connection_refused ? "connection refused"
                                                      : "connect: " + ec.message();
          on_failure(up->target, reason);
          up.reset();
          if (idempotent && body_complete && !retried_target) {
            Target* other = Pick(pool->targets, balance, &pool->cursor, target);
            if (other) {
              retried_target = true;
              target = other;
              inflight.Set(target);
              continue;
            }
          }
          fail_status = timed_out ? 504 : 502;
          fail_reason = "target " + target->address.text + ": " + reason;
          break;
        }
        up->sock.set_option(tcp::no_delay(true), ec);
      }
      up->watch.sock = &up->sock;
      up->watch.target_id = target->id;
      up->watch.fired = false;
      if (!up->watch.prev) watches.Add(&up->watch);
      error_code uec;
      auto utok = asio::redirect_error(use_awaitable, uec);

      // Send the head and the body bytes at hand.
      up->watch.at = now + limits.upstream_response_timeout;
      std::array<asio::const_buffer, 2> bufs = {
          asio::buffer(s.out.data(), upstream_head_len),
          asio::buffer(s.buf.view().data() + head_len, prefix)};
      co_await asio::async_write(up->sock, bufs, utok);
      if (uec) {
        up.reset();
        if (reused && body_complete) {
          // A stale pooled connection: its siblings in the pool are suspect too (the
          // target restarted or died), so drop them all and try a fresh connection.
          idle.erase(target->id);
          continue;
        }
        fail_status = 502;
        fail_reason = "target " + target->address.text + ": sending the request failed";
        break;
      }
      // Stream the rest of the body from the client.
      if (!body_complete) {
        if (expect_continue && head.version_minor >= 1) {  // HTTP/1.0 ignores Expect
          static constexpr std::string_view k100 = "HTTP/1.1 100 Continue\r\n\r\n";
          s.watch.at = now + limits.client_body_timeout;
          co_await asio::async_write(s.sock, asio::buffer(k100), tok);
          if (s.ec) co_return;
        }
        s.buf.Consume(head_len + prefix);
        std::uint64_t remaining =
            framing.kind == http1::BodyKind::kContentLength ? framing.length - prefix : 0;
        bool done = false;
        while (!done) {
          s.watch.at = now + limits.client_body_timeout;
          std::size_t n = co_await s.sock.async_read_some(s.buf.Space(kClientBufInitial), tok);
          if (s.ec) co_return;  // the client went away mid-body: drop both connections
          s.buf.Commit(n);
          std::size_t take;
          if (framing.kind == http1::BodyKind::kContentLength) {
            take = std::min<std::uint64_t>(remaining, s.buf.size());
            remaining -= take;
            done = remaining == 0;
          } else {
            take = s.req_chunks.Feed(s.buf.view());
            if (s.req_chunks.failed()) {
              co_await send_error(400, s.req_chunks.error(), false);
              co_return;
            }
            if (s.req_chunks.data_bytes() > limits.max_body_bytes) {
              co_await send_error(413, "request body larger than the limit", false);
              co_return;
            }
            done = s.req_chunks.done();
          }
          up->watch.at = now + limits.upstream_response_timeout;
          co_await asio::async_write(up->sock, asio::buffer(s.buf.view().data(), take), utok);
          if (uec) {
            co_await send_error(502, "target " + target->address.text + ": sending the body failed",
                                false);
            co_return;
          }
          s.buf.Consume(take);
        }
      }
      // Read the response head (skipping interim 1xx responses other than 101).
      http1::HeadScanner rscan;
      bool got_bytes = false;
      up->watch.at = now + limits.upstream_response_timeout;
      for (;;) {
        if (!up->buf.empty()) {
          auto r = http1::ParseResponseHead(up->buf.view(), parse_limits, &s.resp, &rscan);
          if (r.status == http1::ParseStatus::kError) {
            fail_status = 502;
            fail_reason = std::string("target ") + target->address.text + ": " + r.error_reason;
            break;
          }
          if (r.status == http1::ParseStatus::kComplete) {
            if (s.resp.status >= 100 && s.resp.status < 200 && s.resp.status != 101) {
              up->buf.Consume(r.head_length);  // interim response: not passed on
              rscan.Reset();
              continue;
            }
            head_parsed = true;
            resp_head_len = r.head_length;
            break;
          }
        }
        auto space = up->buf.Space(kUpstreamBuf);
        if (space.size() == 0) {
          fail_status = 502;
          fail_reason = "target " + target->address.text + ": response head too large";
          break;
        }
        std::size_t n = co_await up->sock.async_read_some(space, utok);
        if (uec) break;
        got_bytes = true;
        up->buf.Commit(n);
      }
      if (head_parsed || fail_status) break;
      // The connection failed before the response head.
      bool timed_out = up->watch.fired;
      up.reset();
      if (!got_bytes && body_complete && !timed_out) {
        if (reused) {
          // The pooled connection had been closed by the target; so may every other idle
          // one to it (a killed target leaves a pool of them): drop them all, so the retry
          // uses a fresh connection, whose failure is then reported and retried elsewhere,
          // instead of spending every attempt on dead pooled connections.
          idle.erase(target->id);
          continue;
        }
        if (idempotent && !retried_target) {
          Target* other = Pick(pool->targets, balance, &pool->cursor, target);
          if (other) {
            retried_target = true;
            target = other;
            inflight.Set(target);
            continue;
          }
        }
      }
      fail_status = timed_out ? 504 : 502;
      fail_reason = "target " + target->address.text +
                    (timed_out ? ": no response within " +
                                     std::to_string(limits.upstream_response_timeout.count()) + "ms"
                               : ": connection closed before a response");
      break;
    }
    if (!head_parsed) {
      if (!fail_status) {
        fail_status = 502;
        fail_reason = "target " + target->address.text + ": gave up after retries";
      }
      up.reset();
      bool keep = client_keep && body_complete;
      co_await send_error(fail_status, fail_reason, keep);
      pool->stats->Record(fail_status, 0, 0);
      if (s.ec || !keep) co_return;
      s.buf.Consume(head_len + prefix);
      continue;
    }

    // ---- 5. the response -------------------------------------------------------------
    error_code uec;
    auto utok = asio::redirect_error(use_awaitable, uec);
    const http1::ResponseHead& resp = s.resp;
    http1::Framing rf = http1::ResponseFraming(resp, s.method);
    const bool switching = resp.status == 101;
    if (switching && !upgrade) {
      up.reset();
      co_await send_error(502, "target answered 101 to a request without Upgrade", false);
      co_return;
    }
    if (!rf.ok()) {
      up.reset();
      co_await send_error(
          502, std::string("target ") + target->address.text + ": " + rf.error_reason, false);
      pool->stats->Record(502, 0, 0);
      co_return;
    }
    http1::ParseConnection(resp.headers, &s.rinfo);
    if (rf.kind == http1::BodyKind::kUntilClose) client_keep = false;
    if (!body_complete) client_keep = false;  // (the body was streamed; keep it simple)
    s.out.clear();
    fmt::format_to(std::back_inserter(s.out), "HTTP/1.1 {} ", resp.status);
    s.out.append(resp.reason.empty() ? std::string_view(http1::ReasonPhrase(resp.status))
                                     : resp.reason);
    s.out.append("\r\n");
    for (const auto& h : resp.headers) {
      if (http1::IsHopByHop(h.name, s.rinfo)) continue;
      s.out.append(h.name).append(": ").append(h.value).append("\r\n");
    }
    if (rf.kind == http1::BodyKind::kChunked ||
        (rf.kind == http1::BodyKind::kUntilClose && resp.Find("transfer-encoding"))) {
      // The codings are passed on as received; with chunked not last the body ends at close.
      s.out.append("Transfer-Encoding: ");
      bool first = true;
      for (const auto& h : resp.headers) {
        if (!http1::EqualsIgnoreCase(h.name, "transfer-encoding")) continue;
        if (!first) s.out.append(", ");
        s.out.append(h.value);
        first = false;
      }
      s.out.append("\r\n");
    }
    if (switching) {
      const http1::Header* u = resp.Find("upgrade");
      s.out.append("Connection: Upgrade\r\nUpgrade: ")
          .append(u ? u->value : upgrade_h->value)
          .append("\r\n");
    } else if (!client_keep) {
      s.out.append("Connection: close\r\n");
    } else if (head.version_minor == 0) {
      s.out.append("Connection: keep-alive\r\n");
    }
    if (set_cookie) {
      fmt::format_to(std::back_inserter(s.out),
                     "Set-Cookie: gravity_bucket={}; Path=/; Max-Age=2592000; HttpOnly\r\n",
                     bucket);
    }
    s.out.append("\r\n");
    up->buf.Consume(resp_head_len);
    const int status = resp.status;
    const bool upstream_keep = http1::KeepAlive(resp.version_minor, s.rinfo) &&
                               rf.kind != http1::BodyKind::kUntilClose && !switching;

    std::uint64_t body_bytes = 0;
    bool upstream_ok = true;
    bool client_ok = true;
    auto write_client = [&](std::string_view head_part, std::string_view body) -> awaitable<void> {
      s.watch.at = now + limits.client_body_timeout;
      std::array<asio::const_buffer, 2> b = {asio::buffer(head_part.data(), head_part.size()),
                                             asio::buffer(body.data(), body.size())};
      co_await asio::async_write(s.sock, b, tok);
      if (s.ec) client_ok = false;
      body_bytes += body.size();
    };
    auto read_upstream = [&]() -> awaitable<std::size_t> {
      up->watch.at = now + limits.upstream_response_timeout;
      std::size_t n = co_await up->sock.async_read_some(up->buf.Space(kUpstreamBuf), utok);
      if (uec) {
        upstream_ok = false;
        co_return 0;
      }
      up->buf.Commit(n);
      co_return n;
    };

    std::string_view head_out = s.out;
    switch (rf.kind) {
      case http1::BodyKind::kNone:
        co_await write_client(head_out, {});
        break;
      case http1::BodyKind::kContentLength: {
        std::uint64_t remaining = rf.length;
        for (;;) {
          std::size_t take = std::min<std::uint64_t>(remaining, up->buf.size());
          co_await write_client(head_out, up->buf.view().substr(0, take));
          head_out = {};
          up->buf.Consume(take);
          remaining -= take;
          if (!client_ok || remaining == 0) break;
          co_await read_upstream();
          if (!upstream_ok) break;
        }
        break;
      }
      case http1::BodyKind::kChunked: {
        s.resp_chunks.Reset();
        for (;;) {
          std::size_t take = s.resp_chunks.Feed(up->buf.view());
          if (s.resp_chunks.failed()) {
            upstream_ok = false;
            if (!head_out.empty()) {  // nothing sent yet: the client can still be told
              up.reset();
              co_await send_error(502,
                                  "target " + target->address.text + ": " + s.resp_chunks.error(),
                                  false);
              pool->stats->Record(502, 0, 0);
              co_return;
            }
            break;
          }
          co_await write_client(head_out, up->buf.view().substr(0, take));
          head_out = {};
          up->buf.Consume(take);
          if (!client_ok || s.resp_chunks.done()) break;
          co_await read_upstream();
          if (!upstream_ok) break;
        }
        break;
      }
      case http1::BodyKind::kUntilClose: {
        for (;;) {
          std::size_t take = up->buf.size();
          co_await write_client(head_out, up->buf.view());
          head_out = {};
          up->buf.Consume(take);
          if (!client_ok) break;
          co_await read_upstream();
          if (!upstream_ok) {
            // EOF ends the body normally.
            upstream_ok = uec == asio::error::eof && !up->watch.fired;
            break;
          }
        }
        break;
      }
    }

    if (switching && client_ok) {
      // ---- WebSocket (or other upgraded protocol) tunnel ------------------------------
      s.buf.Consume(head_len);
      asio::steady_timer done_timer(io, Clock::Duration::max());
      bool other_done = false;
      auto pump = [this](tcp::socket& from, tcp::socket& to, Buffer& b, Watch& wf,
                         Watch& wt) -> awaitable<void> {
        error_code ec;
        auto t = asio::redirect_error(use_awaitable, ec);
        for (;;) {
          if (!b.empty()) {
            wt.at = now + limits.idle_timeout * 60;
            co_await asio::async_write(to, asio::buffer(b.view().data(), b.size()), t);
            if (ec) break;
            b.Consume(b.size());
          }
          wf.at = now + limits.idle_timeout * 60;
          std::size_t n = co_await from.async_read_some(b.Space(kUpstreamBuf), t);
          if (ec) break;
          b.Commit(n);
        }
        error_code ignored;
        to.shutdown(tcp::socket::shutdown_send, ignored);
        // Give the other direction a little time to finish, then close.
        wf.at = wt.at = now + std::chrono::seconds(5);
      };
      asio::co_spawn(io, pump(s.sock, up->sock, s.buf, s.watch, up->watch),
                     [&](std::exception_ptr) {
                       other_done = true;
                       done_timer.cancel();
                     });
      co_await pump(up->sock, s.sock, up->buf, up->watch, s.watch);
      while (!other_done) {
        error_code ec;
        co_await done_timer.async_wait(asio::redirect_error(use_awaitable, ec));
      }
      pool->stats->Record(
          101,
          static_cast<std::uint64_t>(
              std::chrono::duration_cast<std::chrono::microseconds>(clock.Now() - started).count()),
          body_bytes);
      co_return;
    }

    const Clock::TimePoint finished = clock.Now();
    const auto micros = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(finished - started).count());
    pool->stats->Record(status, micros, body_bytes);
    if (logging) {
      auto wall_ms =
          std::chrono::duration_cast<std::chrono::milliseconds>(clock.WallNow().time_since_epoch())
              .count();
      std::time_t secs = static_cast<std::time_t>(wall_ms / 1000);
      log_buf += fmt::format("{{\"time\":\"{:%Y-%m-%dT%H:%M:%S}.{:03d}Z\",\"request_id\":",
                             fmt::gmtime(secs), static_cast<int>(wall_ms % 1000));
      AppendJsonString(&log_buf, s.request_id);
      log_buf += ",\"method\":";
      AppendJsonString(&log_buf, s.method);
      log_buf += ",\"host\":";
      AppendJsonString(&log_buf, s.log_host);
      log_buf += ",\"path\":";
      AppendJsonString(&log_buf, s.log_path);
      fmt::format_to(std::back_inserter(log_buf),
                     ",\"status\":{},\"bytes\":{},\"duration_ms\":{:.3f},\"service\":", status,
                     body_bytes, static_cast<double>(micros) / 1000.0);
      AppendJsonString(&log_buf, svc.name);
      fmt::format_to(std::back_inserter(log_buf), ",\"pool\":\"{}\",\"target\":", pool_name);
      AppendJsonString(&log_buf, target->address.text);
      log_buf += "}\n";
      if (log_buf.size() >= kLogFlushBytes) FlushLog();
    }

    // Pool the upstream connection when the exchange ended cleanly.
    bool reusable = upstream_ok && client_ok && upstream_keep;
    if (!upstream_ok) {
      client_ok = false;  // a truncated response: the client must see the connection end
    }
    WatchList::Remove(&up->watch);
    Release(std::move(up), reusable);
    if (!client_ok || !client_keep) co_return;
    if (body_complete) s.buf.Consume(head_len + prefix);
  }
}

// ---- Worker --------------------------------------------------------------------------

Worker::Worker(int index, const ServerOptions& options, Clock& clock, PassiveFailureFn on_failure,
               AccessLogSink log)
    : impl_(std::make_unique<Impl>(this, index, options, clock, std::move(on_failure), log)) {}

Worker::~Worker() { StopAndJoin(); }

Result<tcp::endpoint> Worker::Listen(const tcp::endpoint& endpoint, std::vector<Worker*> peers) {
  error_code ec;
  auto& a = impl_->acceptor;
  impl_->peers = std::move(peers);
  // SO_REUSEADDR only: binding over TIME_WAIT leftovers is fine, but an address some other
  // socket listens on is refused (SO_REUSEPORT would let another process share it).
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

void Worker::Start() {
  Impl* impl = impl_.get();
  if (impl->acceptor.is_open()) asio::co_spawn(impl->io, impl->AcceptLoop(), asio::detached);
  impl->ScheduleSweep();
  thread_ = std::thread([impl] { impl->io.run(); });
}

void Worker::SetTable(std::shared_ptr<const RouteTable> table, std::function<void()> applied) {
  Impl* impl = impl_.get();
  asio::post(impl->io, [impl, table = std::move(table), applied = std::move(applied)]() mutable {
    impl->table = std::move(table);
    impl->PruneIdle(true);
    if (applied) applied();
  });
}

void Worker::CloseTarget(std::uint64_t target_id) {
  Impl* impl = impl_.get();
  asio::post(impl->io, [impl, target_id] {
    impl->idle.erase(target_id);
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
    impl->idle.clear();
    impl->watches.ForEach([&](Watch* w) {
      if (w->idle_client && w->sock) {
        error_code e;
        w->sock->close(e);
      }
    });
    impl->FlushLog();
  });
}

void Worker::StopAndJoin() {
  if (!thread_.joinable()) return;
  Impl* impl = impl_.get();
  asio::post(impl->io, [impl] { impl->FlushLog(); });
  impl->io.stop();
  thread_.join();
}

}  // namespace gravity::proxy
