#include "proxy/h2_session.h"

#include <nghttp2/nghttp2.h>

#include <cstring>

namespace gravity::proxy {

namespace {

using asio::awaitable;
using asio::use_awaitable;

constexpr std::size_t kIdleOutCapacity = 16 * 1024;  // an idle writer keeps no more
constexpr std::size_t kWriteChunk = 64 * 1024;  // frames gathered into one TLS write
constexpr std::uint32_t kMaxConcurrentStreams = 100;
constexpr std::int32_t kConnectionWindow = 1 << 20;  // streams keep the default 64 KiB
// CVE-2023-44487: streams a client may reset in a burst, and per second after it.
constexpr std::uint64_t kResetBurst = 1000;
constexpr std::uint64_t kResetRate = 33;
constexpr std::size_t kMaxContinuations = 8;  // a header block spans at most 9 frames
constexpr std::size_t kMaxSettingsEntries = 32;
constexpr std::size_t kMaxOutboundAck = 1000;  // unsent PING/SETTINGS ACKs: a flood
constexpr std::size_t kDeflateTableSize = 4096;

}  // namespace

// nghttp2 calls these from inside mem_recv/mem_send; they only record and wake, never
// call back into the session's send path (streams run as their own coroutines).
struct H2Session::Callbacks {
  static H2Session& Self(void* user) { return *static_cast<H2Session*>(user); }

  static int BeginHeaders(nghttp2_session*, const nghttp2_frame* f, void* user) {
    H2Session& h = Self(user);
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    auto s = std::make_shared<H2Stream>(h.w_.io, f->hd.stream_id);
    h.w_.watches.Add(&s->watch);
    nghttp2_session_set_stream_user_data(h.session_, f->hd.stream_id, s.get());
    h.streams_[f->hd.stream_id] = std::move(s);
    return 0;
  }

  static int Header(nghttp2_session*, const nghttp2_frame* f, const std::uint8_t* name,
                    std::size_t namelen, const std::uint8_t* value, std::size_t valuelen,
                    std::uint8_t, void* user) {
    H2Session& h = Self(user);
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    H2Stream* s = h.Find(f->hd.stream_id);
    if (!s || s->refused || s->early_status) return 0;
    const char* why = AddH2Field(&s->req, {reinterpret_cast<const char*>(name), namelen},
                                 {reinterpret_cast<const char*>(value), valuelen});
    if (why) {
      s->refused = true;
      nghttp2_submit_rst_stream(h.session_, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_PROTOCOL_ERROR);
      return 0;
    }
    if (s->req.field_bytes > h.w_.limits.max_header_bytes ||
        s->req.fields.size() > h.w_.limits.max_headers) {
      // Like HTTP/1.1's 431; the rest of the block is decoded (HPACK state) but not kept.
      s->early_status = 431;
      s->req.fields = {};
    }
    return 0;
  }

  static int FrameRecv(nghttp2_session*, const nghttp2_frame* f, void* user) {
    H2Session& h = Self(user);
    H2Stream* s = h.Find(f->hd.stream_id);
    if (!s) return 0;
    const bool end = (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST) {
      s->end_stream = end;
      if (!s->refused && !h.over_) h.Spawn(h.ServeStream(h.streams_[s->id]));
    } else if ((f->hd.type == NGHTTP2_DATA || f->hd.type == NGHTTP2_HEADERS) && end) {
      s->end_stream = true;  // the body's end, or trailers (not passed on)
      s->Wake();
    }
    return 0;
  }

  static int DataChunk(nghttp2_session* session, std::uint8_t, std::int32_t id,
                       const std::uint8_t* data, std::size_t len, void* user) {
    H2Session& h = Self(user);
    H2Stream* s = h.Find(id);
    if (!s || s->refused || s->discard || s->closed) {
      nghttp2_session_consume(session, id, len);  // nobody reads it: the window reopens
      return 0;
    }
    // The window is given back only once the bytes went on to the target (Consume): a
    // slow target slows the client down instead of filling memory.
    s->body.append(reinterpret_cast<const char*>(data), len);
    s->unconsumed += len;
    s->body_received += len;
    s->Wake();
    return 0;
  }

  static int StreamClose(nghttp2_session* session, std::int32_t id, std::uint32_t, void* user) {
    H2Session& h = Self(user);
    auto it = h.streams_.find(id);
    if (it == h.streams_.end()) return 0;
    std::shared_ptr<H2Stream> s = std::move(it->second);
    h.streams_.erase(it);
    s->closed = true;
    if (s->unconsumed) nghttp2_session_consume_connection(session, s->unconsumed);
    s->unconsumed = 0;
    if (s->up) {
      error_code ec;
      s->up->sock.close(ec);  // an exchange in progress ends at once
    }
    s->Wake();
    return 0;
  }

  // The data provider of every response body: takes what the stream's coroutine pushed.
  static ssize_t ReadBody(nghttp2_session*, std::int32_t, std::uint8_t* buf, std::size_t length,
                          std::uint32_t* flags, nghttp2_data_source* source, void*) {
    auto* s = static_cast<H2Stream*>(source->ptr);
    const std::size_t n = std::min(length, s->pending_out());
    if (n == 0 && !s->out_eof) {
      s->deferred = true;
      return NGHTTP2_ERR_DEFERRED;
    }
    std::memcpy(buf, s->out.data() + s->out_off, n);
    s->out_off += n;
    if (s->out_off == s->out.size()) {
      s->out.clear();
      s->out_off = 0;
      if (s->out_eof) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        s->eof_sent = true;
      }
    }
    if (n > 0) s->Wake();  // room for more of the target's body
    return static_cast<ssize_t>(n);
  }
};

ssize_t H2ReadBody(nghttp2_session* session, std::int32_t id, std::uint8_t* buf,
                   std::size_t length, std::uint32_t* flags, nghttp2_data_source* source,
                   void* user) {
  return H2Session::Callbacks::ReadBody(session, id, buf, length, flags, source, user);
}

H2Session::H2Session(Worker::Impl& w, tcp::socket& sock, TlsStream& tls, Watch& watch,
                     std::string client_ip)
    : w_(w),
      sock_(sock),
      tls_(tls),
      watch_(watch),
      client_ip_(std::move(client_ip)),
      in_(w.pool.buffers()),
      writer_wake_(w.io, asio::steady_timer::time_point::max()),
      done_(w.io, asio::steady_timer::time_point::max()) {}

H2Session::~H2Session() {
  streams_.clear();
  if (session_) nghttp2_session_del(session_);
}

bool H2Session::Init() {
  nghttp2_session_callbacks* cb = nullptr;
  if (nghttp2_session_callbacks_new(&cb) != 0) return false;
  nghttp2_session_callbacks_set_on_begin_headers_callback(cb, Callbacks::BeginHeaders);
  nghttp2_session_callbacks_set_on_header_callback(cb, Callbacks::Header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, Callbacks::FrameRecv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, Callbacks::DataChunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, Callbacks::StreamClose);
  nghttp2_option* opt = nullptr;
  if (nghttp2_option_new(&opt) != 0) {
    nghttp2_session_callbacks_del(cb);
    return false;
  }
  nghttp2_option_set_no_auto_window_update(opt, 1);
  nghttp2_option_set_stream_reset_rate_limit(opt, kResetBurst, kResetRate);
  nghttp2_option_set_max_continuations(opt, kMaxContinuations);
  nghttp2_option_set_max_settings(opt, kMaxSettingsEntries);
  nghttp2_option_set_max_outbound_ack(opt, kMaxOutboundAck);
  nghttp2_option_set_max_deflate_dynamic_table_size(opt, kDeflateTableSize);
  const int rv = nghttp2_session_server_new2(&session_, cb, this, opt);
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cb);
  if (rv != 0) return false;
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, kMaxConcurrentStreams},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, static_cast<std::uint32_t>(w_.limits.max_header_bytes)},
      {NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, 4096},
  };
  if (nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, 3) != 0) return false;
  return nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0,
                                               kConnectionWindow) == 0;
}

awaitable<void> H2Session::Run() {
  if (!Init()) co_return;
  w_.h2_sessions.insert(this);
  idle_since_ = w_.now;
  watch_.idle_client = false;
  if (w_.shutting_down) GoAway();
  Rearm();
  Spawn(WriteLoop());
  co_await ReadLoop();
  over_ = true;
  AbortStreams();
  WakeWriter();
  while (live_ > 0) {
    error_code ec;
    done_.expires_at(asio::steady_timer::time_point::max());
    co_await done_.async_wait(asio::redirect_error(use_awaitable, ec));
  }
  w_.h2_sessions.erase(this);
}

awaitable<void> H2Session::ReadLoop() {
  error_code ec;
  while (!over_) {
    // Waits holding no buffer: an idle connection costs its nghttp2 session only.
    if (!tls_.HasPending()) {
      co_await sock_.async_wait(tcp::socket::wait_read, asio::redirect_error(use_awaitable, ec));
      if (ec || over_) break;
    }
    std::size_t n = co_await tls_.ReadSome(in_.Space(kUpstreamBuf), ec);
    if (ec || over_) break;
    in_.Commit(n);
    const auto* data = reinterpret_cast<const std::uint8_t*>(in_.view().data());
    const ssize_t rv = nghttp2_session_mem_recv(session_, data, in_.size());
    in_.Consume(in_.size());
    in_.Release();  // back to the worker's pool
    if (rv < 0) break;  // a bad preface, a flood (nghttp2 says: close), out of memory
    WakeWriter();
    // GOAWAY sent or received and no stream left, or the session was terminated.
    if (!nghttp2_session_want_read(session_)) break;
    Rearm();
  }
  in_.Release();
}

awaitable<void> H2Session::WriteLoop() {
  error_code ec;
  for (;;) {
    out_.clear();
    while (out_.size() < kWriteChunk) {
      const std::uint8_t* data = nullptr;
      const ssize_t n = nghttp2_session_mem_send(session_, &data);
      if (n < 0) over_ = true;  // out of memory: nothing more can be sent
      if (n <= 0) break;
      out_.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
    }
    if (!out_.empty()) {
      writing_ = true;
      Rearm();
      co_await tls_.Write(out_, {}, ec);
      writing_ = false;
      Rearm();
      if (ec) break;
      continue;
    }
    if (over_) break;
    if (!nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_)) break;
    if (out_.capacity() > kIdleOutCapacity) std::string().swap(out_);  // idle: hold little
    if (!writer_woken_) {
      writer_wake_.expires_at(asio::steady_timer::time_point::max());
      co_await writer_wake_.async_wait(asio::redirect_error(use_awaitable, ec));
    }
    writer_woken_ = false;
  }
  std::string().swap(out_);
  over_ = true;
  // Ends the reader too: its read sees the end of the stream.
  tls_.Close();
  error_code ignored;
  sock_.shutdown(tcp::socket::shutdown_both, ignored);
}

void H2Session::WakeWriter() {
  writer_woken_ = true;
  writer_wake_.cancel();
}

// While a write is under way it must progress within the body timeout; while streams run
// they keep their own deadlines; with none the connection may idle for the idle timeout
// (counted from the last stream's end, so PINGs do not keep it open), or for the short
// grace after GOAWAY.
void H2Session::Rearm() {
  if (watch_.fired) return;
  if (writing_) {
    watch_.at = w_.now + w_.limits.client_body_timeout;
  } else if (running_ > 0) {
    watch_.at = Clock::TimePoint::max();
  } else if (going_away_ || w_.shutting_down) {
    watch_.at = std::min(idle_since_ + w_.limits.idle_timeout, w_.now + w_.ShutdownGrace());
  } else {
    watch_.at = idle_since_ + w_.limits.idle_timeout;
  }
}

void H2Session::AbortStreams() {
  for (auto& [id, s] : streams_) {
    if (!s->closed) nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
    s->closed = true;
    if (s->up) {
      error_code ec;
      s->up->sock.close(ec);
    }
    s->Wake();
  }
}

void H2Session::GoAway() {
  if (going_away_ || over_ || !session_) return;
  going_away_ = true;
  nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE,
                        nghttp2_session_get_last_proc_stream_id(session_), NGHTTP2_NO_ERROR,
                        nullptr, 0);
  WakeWriter();
  Rearm();
}

void H2Session::Spawn(awaitable<void> c) {
  ++live_;
  asio::co_spawn(w_.io, std::move(c), [this](std::exception_ptr) {
    if (--live_ == 0) done_.cancel();
  });
}

H2Stream* H2Session::Find(std::int32_t id) {
  auto it = streams_.find(id);
  return it == streams_.end() ? nullptr : it->second.get();
}

}  // namespace gravity::proxy
