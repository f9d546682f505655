#pragma once

// The two steps of talking to a target that the HTTP/1.1 session and HTTP/2 streams share:
// opening a connection (with the connect timeout, reporting a failure to the health
// checker as a passive failure), sending the request, and reading a response head (skipping interim 1xx
// responses but 101). The caller owns the connection and decides on retries (RetryPolicy).
// Thread-safety: on the worker's thread only.

#include <array>
#include <memory>
#include <string>

#include "common/http1.h"
#include "proxy/retry_policy.h"
#include "proxy/upstream_pool.h"
#include "proxy/worker_impl.h"

namespace gravity::proxy {

// A new connection to `target` (watched, in w.watches), or null with `failure` and
// `reason` set.
asio::awaitable<std::unique_ptr<UpstreamConn>> ConnectTarget(Worker::Impl& w,
                                                             std::shared_ptr<Target> target,
                                                             AttemptFailure* failure,
                                                             std::string* reason);

// Sends the request (head, then what of the body is at hand). `whole_to_quiet`: the
// buffers are the whole request and `up` is a pooled connection just checked quiet; then
// one non-blocking sendmsg is tried first, and if it takes everything the response read
// waits for readiness instead of first trying a recv that would fail with EAGAIN
// (UpstreamConn::await_response). Anything left goes by async_write.
asio::awaitable<error_code> SendRequest(UpstreamConn& up, std::array<asio::const_buffer, 2> bufs,
                                        bool whole_to_quiet);

struct HeadRead {
  bool ok = false;           // a final response head is in `resp`, head_len bytes of up.buf
  std::size_t head_len = 0;
  bool fatal = false;        // not ok: answer `reason` (a 502) without a retry
  AttemptFailure failure{};  // not ok and not fatal: for the retry policy
  std::string reason;
};

asio::awaitable<HeadRead> ReadTargetResponseHead(Worker::Impl& w, UpstreamConn& up,
                                                 http1::ResponseHead* resp);

}  // namespace gravity::proxy
