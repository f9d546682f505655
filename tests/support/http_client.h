#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace gravity::test {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

struct HttpResponse {
  int status = 0;
  std::string version;  // "HTTP/1.1"
  std::string reason;
  HttpHeaders headers;  // in the order received
  std::string body;     // de-chunked
  bool chunked = false;
  bool keep_alive = true;  // whether the connection stays usable after this response

  // First header named `name` (case-insensitive), or nullopt.
  std::optional<std::string> Header(std::string_view name) const;
  // Header(name) or "".
  std::string HeaderOr(std::string_view name, std::string fallback = "") const;
  // The X-Instance header (which gravity-testapp instance answered), or "".
  std::string Instance() const { return HeaderOr("X-Instance"); }
};

struct HttpRequest {
  std::string method = "GET";
  std::string target = "/";
  std::string host;     // Host header; empty: "address:port" of the client
  HttpHeaders headers;  // extra headers, sent as given
  std::string body;     // Content-Length is added when non-empty (unless given in headers)
  // Called with each piece of the body as it arrives (e.g. to observe streaming); the body
  // is still collected into HttpResponse::body.
  std::function<void(std::string_view)> on_body;
};

// A blocking HTTP/1.1 client over one keep-alive TCP connection (reconnects when the server
// closed it). Has a raw mode for hostile tests: SendRaw() writes arbitrary bytes, then
// ReadResponse() / ReadUntilClose() / WaitClosed() read what comes back.
// Not thread-safe: one client per thread.
class HttpClient {
 public:
  HttpClient(std::string address, int port,
             std::chrono::milliseconds timeout = std::chrono::seconds(10));
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // GET `target` with an optional Host header.
  Result<HttpResponse> Get(const std::string& target, const std::string& host = "");
  // Sends one request and reads its response. When a reused keep-alive connection turns out
  // to be closed before any byte of the response arrived, the request is sent once more on
  // a new connection unless set_retry_stale(false).
  Result<HttpResponse> Send(const HttpRequest& request);

  // Raw mode. Connects when needed.
  Status SendRaw(std::string_view bytes);
  // Reads one response (`head`: the request was HEAD, so no body follows).
  Result<HttpResponse> ReadResponse(bool head = false,
                                    const std::function<void(std::string_view)>& on_body = {});
  // Reads until the peer closes (or the timeout); returns everything read.
  Result<std::string> ReadUntilClose();
  // True when the peer closes the connection within `timeout` (any bytes it sends first are
  // discarded).
  bool WaitClosed(std::chrono::milliseconds timeout);

  Status Connect();
  void Close();
  bool connected() const { return fd_ >= 0; }
  // Number of TCP connections opened so far.
  int connections_opened() const { return connections_opened_; }
  void set_timeout(std::chrono::milliseconds timeout) { timeout_ = timeout; }
  void set_retry_stale(bool retry) { retry_stale_ = retry; }
  const std::string& address() const { return address_; }
  int port() const { return port_; }

 private:
  Result<HttpResponse> SendOnce(const HttpRequest& request, bool* stale);
  // Reads more bytes into buffer_ before `deadline`: >0 bytes, 0 at EOF, or an error.
  Result<size_t> ReadMore(std::chrono::steady_clock::time_point deadline);
  Status WriteAll(std::string_view bytes, std::chrono::steady_clock::time_point deadline);

  std::string address_;
  int port_;
  std::chrono::milliseconds timeout_;
  bool retry_stale_ = true;
  int fd_ = -1;
  bool reused_ = false;  // the current connection has carried a response already
  int connections_opened_ = 0;
  std::string buffer_;  // bytes read but not consumed
};

// One-shot GET on a fresh connection: GET http://address:port/target.
Result<HttpResponse> HttpGet(int port, const std::string& target = "/",
                             const std::string& host = "",
                             std::chrono::milliseconds timeout = std::chrono::seconds(10),
                             const std::string& address = "127.0.0.1");

}  // namespace gravity::test
