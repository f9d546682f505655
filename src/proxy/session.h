#pragma once

// One client connection, from accept to close, as a coroutine that reads as its steps:
//
//   ReadHead -> Route -> Exchange (one RetryPolicy: connect or reuse, send, read the
//   response head) -> Relay (the response body) -> Tunnel (after a 101) -> next request
//
// Each step is a member function; the forwarding rules (forwarding.h), the canary split
// (canary_split.h), the pool (upstream_pool.h), deadlines (watch.h) and the access log
// (access_log.h) live in their own files. Every read has a deadline (a Watch) and a size
// limit; a connection waiting for its next request holds no buffer (its wait is a readiness
// wait), and once the sweep trims it, no coroutine frame either: it parks (parking_lot.h).
// Thread-safety: a Session lives on its worker's thread only.

#include <string>

#include "common/http1.h"
#include "proxy/block_pool.h"
#include "proxy/buffer.h"
#include "proxy/inflight.h"
#include "proxy/retry_policy.h"
#include "proxy/tls_stream.h"
#include "proxy/worker_impl.h"

namespace gravity::proxy {

// A plain-HTTP connection parked between requests, compacted to what its next request
// needs: the descriptor (in the worker's ParkingLot, out of the event loop), its deadline
// and its client's address (136 B, against about 1 KiB for a Session). Session::Wake makes a session of
// it again; destroying it closes the connection.
struct ParkedConn {
  ParkedConn(Worker::Impl& w, int fd, bool v6);
  ~ParkedConn();
  ParkedConn(const ParkedConn&) = delete;
  ParkedConn& operator=(const ParkedConn&) = delete;
  static void* operator new(std::size_t n, BlockPool& pool);
  static void operator delete(void* p, BlockPool& pool);
  static void operator delete(ParkedConn* p, std::destroying_delete_t);

  Worker::Impl& w;
  int fd;   // open and in the lot until a session takes it (then -1)
  bool v6;  // the address family, for the socket that takes it
  Watch watch;
  std::string client_ip;
  int served = 0;
  bool handed_on = false;  // a session took it over (and the connection count with it)
};

class Session {
 public:
  Session(Worker::Impl& w, tcp::socket sock, bool tls);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Serves requests until the connection is over (false) or it parks (true): idle long
  // enough to be trimmed, with nothing to read. A parked session holds no buffer and no
  // coroutine frame; its owner (Worker::Impl::Park) compacts it into the ParkingLot, or,
  // for TLS, keeps it behind a read wait and runs Run() again, which goes on with the next
  // request.
  asio::awaitable<bool> Run();
  tcp::socket& socket() { return sock_; }
  bool timed_out() const { return watch_.fired; }  // the sweep closed it (a deadline)
  // A parked plain-HTTP session gives way to a ParkedConn in the worker's ParkingLot: `s`
  // is destroyed, the connection goes on. Null (and `s` kept) for TLS, whose stream state
  // stays with the session, or when the lot cannot take it.
  static ParkedConn* Compact(std::unique_ptr<Session>& s);
  // The session of a parked connection whose next request (or EOF) came; null when the
  // descriptor could not be handed back to the event loop (`p` closes it).
  static std::unique_ptr<Session> Wake(std::unique_ptr<ParkedConn> p);

 private:
  enum class After { kNext, kClose };  // what follows one request on this connection

  // The outcome of trying to get a response head from a target.
  struct Outcome {
    bool response = false;  // a response head is parsed in resp_ and sits in up_->buf
    bool abort = false;     // the connection is over (the client left mid-body, or a body
                            // error was already answered)
    int status = 0;         // otherwise: the error to answer with
    std::string reason;
  };

  // The state of the request being served; reset for each request.
  struct Request {
    std::size_t head_len = 0;
    http1::Framing framing;
    bool keep = false;  // the client connection may stay open after the response
    std::string_view host;
    std::string_view path;
    std::shared_ptr<const RouteTable> table;  // the table this request was routed with
    const ServiceSnapshot* service = nullptr;
    const PoolSnapshot* pool = nullptr;
    const char* pool_name = "main";
    int set_cookie_bucket = -1;
    Target* target = nullptr;
    std::size_t upstream_head_len = 0;  // bytes of out_ that are the upstream head
    bool expect_continue = false;
    bool upgrade = false;
    std::size_t prefix = 0;  // body bytes that arrived with the head
    bool body_complete = true;
    std::size_t resp_head_len = 0;
    Clock::TimePoint started;
  };

  asio::awaitable<bool> Handshake();  // TLS only: false when it failed or timed out
  asio::awaitable<void> ServeH2();    // TLS with ALPN h2: the connection is HTTP/2
  enum class Next { kRequest, kPark, kClose };
  asio::awaitable<Next> ReadHead();
  bool Readable();  // bytes (or EOF) are waiting on the socket or in the TLS stream
  // Plain HTTP: reads what is there without waiting. False: nothing yet. True: *n bytes,
  // or ec_ says why none (EOF, an error).
  bool TryRead(asio::mutable_buffer b, std::size_t* n);
  void LearnClient();  // client_ip_ from the socket's peer address
  // The client's side, plain or TLS (ec_ holds the error).
  asio::awaitable<std::size_t> ReadClient(asio::mutable_buffer b);
  // Answers what the proxy serves itself on plain HTTP: ACME HTTP-01 challenges and the
  // redirect to HTTPS. True when it answered (`after` says what follows).
  asio::awaitable<bool> ServeEdge(After* after);
  void TrimIdle();                   // frees what a connection waiting for a request holds
  asio::awaitable<After> Handle();
  asio::awaitable<After> Reject(int status, std::string_view detail, bool keep_if_no_body);
  bool Route();  // false: r_.service is null (404) or r_.target is null (503)
  bool PrepareUpstream();  // false: the body prefix is malformed (r_ holds nothing to send)
  asio::awaitable<Outcome> Exchange();
  asio::awaitable<Outcome> Attempt(bool* reused, AttemptFailure* failure);
  asio::awaitable<bool> Connect(AttemptFailure* failure, std::string* reason);
  asio::awaitable<Outcome> StreamBody();
  asio::awaitable<bool> ReadResponseHead(AttemptFailure* failure, Outcome* fatal);
  asio::awaitable<After> Respond();
  enum class RelayEnd {
    kComplete,     // the whole body reached the client
    kClientGone,   // writing to the client failed
    kTargetFailed, // the target's body ended early or was malformed (after the head went)
    kAnswered,     // malformed before anything was sent: a 502 was sent instead
  };
  asio::awaitable<RelayEnd> Relay(const http1::Framing& rf, std::string_view head_out,
                                  std::uint64_t* body_bytes);
  asio::awaitable<void> Tunnel();
  asio::awaitable<void> SendError(int status, std::string_view detail, bool keep);
  asio::awaitable<void> WriteClient(std::string_view a, std::string_view b);
  void Finish(int status, std::uint64_t body_bytes);
  Outcome Failed(AttemptFailure f, const std::string& reason) const;
  std::string TargetText() const;

  Worker::Impl& w_;
  tcp::socket sock_;
  std::unique_ptr<TlsStream> tls_;  // null on the plain HTTP listener
  Watch watch_;
  Buffer buf_;
  error_code ec_;
  std::string client_ip_;
  bool v6_ = false;  // the client's address family
  int served_ = 0;  // requests answered on this connection
  bool started_ = false;  // Run() has run before (handshake done; this is a resume)
  bool handed_on_ = false;  // compacted: a ParkedConn has the connection (and its count)

  Request r_;
  Inflight inflight_;
  std::unique_ptr<UpstreamConn> up_;
  http1::RequestHead head_;
  http1::ResponseHead resp_;
  http1::ConnectionInfo cinfo_;
  http1::ConnectionInfo rinfo_;
  http1::ChunkedDecoder req_chunks_;
  http1::ChunkedDecoder resp_chunks_;
  std::string out_;
  std::string method_;
  std::string request_id_;
  std::string log_host_;  // copies for the access log: the head's views do not outlive
  std::string log_path_;  // a streamed body
};

}  // namespace gravity::proxy
