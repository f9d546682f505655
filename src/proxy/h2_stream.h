#pragma once

// The state of one HTTP/2 stream, shared by nghttp2's callbacks (which fill in the request
// and take the response body) and the stream's coroutine (H2Session::ServeStream).
// Thread-safety: on the worker's thread only.

#include <cstdint>
#include <memory>
#include <string>

#include "proxy/h2_request.h"
#include "proxy/inflight.h"
#include "proxy/route_choice.h"
#include "proxy/upstream_pool.h"
#include "proxy/watch.h"

namespace gravity::proxy {

struct H2Stream {
  H2Stream(asio::io_context& io, std::int32_t id_in)
      : id(id_in), wake(io, asio::steady_timer::time_point::max()) {
    watch.timer = &wake;
  }
  ~H2Stream() { WatchList::Remove(&watch); }
  H2Stream(const H2Stream&) = delete;
  H2Stream& operator=(const H2Stream&) = delete;

  // Wakes the stream's coroutine (or makes its next wait return at once).
  void Wake() {
    woken = true;
    wake.cancel();
  }
  std::size_t pending_out() const { return out.size() - out_off; }

  const std::int32_t id;
  // The request, as decoded.
  H2Request req;
  bool refused = false;     // reset while its fields arrived: no coroutine runs
  int early_status = 0;     // answered without routing (431: the field list is too large)
  bool end_stream = false;  // the client's request is complete
  bool discard = false;     // the body is not wanted: consume it as it arrives
  std::string body;         // request body received and not yet sent on
  std::size_t unconsumed = 0;  // body bytes not yet given back to the flow-control window
  std::uint64_t body_received = 0;
  // The response body: the data provider takes from out, at out_off.
  std::string out;
  std::size_t out_off = 0;
  bool out_eof = false;
  bool eof_sent = false;  // nghttp2 has taken the end of the response
  std::uint64_t pushed = 0;  // response body bytes handed to nghttp2
  bool deferred = false;  // the data provider is waiting for nghttp2_session_resume_data
  bool closed = false;    // nghttp2 closed the stream (done, or reset by either side)
  bool reset_sent = false;  // the proxy submitted RST_STREAM
  // The coroutine's wait: woken by callbacks, or by the sweep at watch's deadline.
  asio::steady_timer wake;
  bool woken = false;
  Watch watch;
  // What the coroutine is serving.
  std::shared_ptr<const RouteTable> table;
  RouteChoice route;
  std::string request_id;
  std::string upstream_head;
  http1::Framing framing;  // of the request body sent to the target
  bool body_whole = true;  // the whole body was in `body` before the first attempt
  std::unique_ptr<UpstreamConn> up;
  http1::ResponseHead resp;
  std::size_t resp_head_len = 0;
  http1::ConnectionInfo rinfo;
  Inflight inflight;
  Clock::TimePoint started;
};

}  // namespace gravity::proxy
