#pragma once

// One client connection, from accept to close, as a coroutine that reads as its steps:
//
//   ReadHead -> Route -> Exchange (one RetryPolicy: connect or reuse, send, read the
//   response head) -> Relay (the response body) -> Tunnel (after a 101) -> next request
//
// Each step is a member function; the forwarding rules (forwarding.h), the canary split
// (canary_split.h), the pool (upstream_pool.h), deadlines (watch.h) and the access log
// (access_log.h) live in their own files. Every read has a deadline (a Watch) and a size
// limit; a connection waiting for its next request holds no buffer once the sweep trims it.
// Thread-safety: a Session lives on its worker's thread only.

#include <string>

#include "common/http1.h"
#include "proxy/buffer.h"
#include "proxy/inflight.h"
#include "proxy/retry_policy.h"
#include "proxy/tls_stream.h"
#include "proxy/worker_impl.h"

namespace gravity::proxy {

class Session {
 public:
  Session(Worker::Impl& w, tcp::socket sock, bool tls);
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  asio::awaitable<void> Run();

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
  asio::awaitable<bool> ReadHead();  // false: the connection is over
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
  int served_ = 0;  // requests answered on this connection

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
