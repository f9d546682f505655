#pragma once

// One HTTP/2 client connection (TLS, ALPN h2), served with libnghttp2 after the handshake.
//
//   Run: reads TLS -> nghttp2_session_mem_recv (callbacks collect each stream's fields and
//        body) ... WriteLoop: nghttp2_session_mem_send -> TLS, one writer, woken when a
//        stream has something new to send.
//   ServeStream (h2_stream.cpp): one coroutine per stream on the worker's io_context, so
//        streams are multiplexed; each maps onto the HTTP/1.1 upstream pools like a
//        Session's request: Route -> Exchange (RetryPolicy) -> Respond (DATA frames from a
//        data provider that defers until the target's body arrives, and resumes).
//
// Defenses: nghttp2's limits (rapid reset rate, CONTINUATION count, settings and outbound
// ACK floods, HPACK table size), 100 concurrent streams, the header list limit of the
// HTTP/1.1 path, and deadlines on Watches: the connection's idle timeout when no stream
// runs, a write that does not progress for the body timeout, and for each stream the body
// timeout while it waits for its client's body or window.
// Lifetime: Run returns only after every stream coroutine and the writer have ended; the
// owner (Session) keeps the socket, the TlsStream and the Watch alive until then.
// Thread-safety: an H2Session lives on its worker's thread only.

#include <map>
#include <memory>
#include <string>

#include "proxy/buffer.h"
#include "proxy/h2_stream.h"
#include "proxy/retry_policy.h"
#include "proxy/tls_stream.h"
#include "proxy/worker_impl.h"

struct nghttp2_session;

namespace gravity::proxy {

class H2Session {
 public:
  H2Session(Worker::Impl& w, tcp::socket& sock, TlsStream& tls, Watch& watch,
            std::string client_ip);
  ~H2Session();
  H2Session(const H2Session&) = delete;
  H2Session& operator=(const H2Session&) = delete;

  asio::awaitable<void> Run();
  // Worker::Shutdown: GOAWAY; streams in flight finish, then the connection closes.
  void GoAway();

  struct Callbacks;  // nghttp2's C callbacks (h2_session.cpp)

 private:
  bool Init();
  asio::awaitable<void> ReadLoop();
  asio::awaitable<void> WriteLoop();
  void WakeWriter();
  void Rearm();  // the connection's deadline, from what it is doing
  void AbortStreams();
  // Runs `c` as a coroutine counted in live_ (Run waits for all of them).
  void Spawn(asio::awaitable<void> c);
  H2Stream* Find(std::int32_t id);

  // h2_stream.cpp: one stream, from its complete request head to its end.
  asio::awaitable<void> ServeStream(std::shared_ptr<H2Stream> s);
  bool Admit(H2Stream& s);
  const char* CheckRequest(H2Stream& s);
  bool Route(H2Stream& s);
  asio::awaitable<bool> Exchange(H2Stream& s);
  asio::awaitable<bool> Attempt(H2Stream& s, bool* reused, AttemptFailure* failure,
                                std::string* reason);
  asio::awaitable<bool> SendBody(H2Stream& s);
  asio::awaitable<void> Respond(H2Stream& s);
  asio::awaitable<bool> RelayBody(H2Stream& s, const http1::Framing& rf);
  asio::awaitable<bool> WaitStream(H2Stream& s, Clock::Duration limit);
  asio::awaitable<void> AwaitDelivered(H2Stream& s);
  void SubmitResponse(H2Stream& s, int status, const std::vector<H2Field>& fields, bool body);
  void SubmitError(H2Stream& s, int status, std::string_view detail);
  void Push(H2Stream& s, std::string_view data, bool eof);
  void Consume(H2Stream& s, std::size_t n);
  void Reset(H2Stream& s, std::uint32_t code);
  void Finish(H2Stream& s, int status);

  Worker::Impl& w_;
  tcp::socket& sock_;
  TlsStream& tls_;
  Watch& watch_;
  std::string client_ip_;
  nghttp2_session* session_ = nullptr;
  std::map<std::int32_t, std::shared_ptr<H2Stream>> streams_;  // open in nghttp2
  Buffer in_;
  std::string out_;
  asio::steady_timer writer_wake_;
  bool writer_woken_ = false;
  bool writing_ = false;     // a TLS write is under way (the connection's deadline runs)
  bool over_ = false;        // the connection is ending: no more reads or new streams
  bool going_away_ = false;  // GOAWAY submitted by GoAway()
  int running_ = 0;          // stream coroutines
  Clock::TimePoint idle_since_{};  // when running_ last dropped to 0
  int live_ = 0;             // coroutines Run waits for (streams and the writer)
  asio::steady_timer done_;  // cancelled when live_ drops to 0
};

}  // namespace gravity::proxy
