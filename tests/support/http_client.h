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

// TLS for HttpClient (OpenSSL): the name sent as SNI, the CA file the server's chain must
// verify against (empty: no verification), the ALPN list offered.
struct TlsClientOptions {
  std::string sni;      // empty: no SNI
  std::string ca_file;  // PEM; verification also checks the name against `sni`
  std::vector<std::string> alpn = {"http/1.1"};
  bool resume = true;   // offer the session of the previous connection (tickets)
};

// What the last TLS handshake of an HttpClient saw.
struct TlsHandshakeInfo {
  std::string protocol;     // "TLSv1.3"
  std::string alpn;         // "http/1.1", or "" when none was agreed
  std::string subject_cn;   // of the server's certificate
  std::string issuer_cn;
  std::string serial;       // hex
  bool resumed = false;     // an abbreviated handshake (a ticket was accepted)
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
  // Every later connection speaks TLS with these options.
  void UseTls(TlsClientOptions options);
  const TlsHandshakeInfo& tls_info() const { return tls_info_; }
  void set_retry_stale(bool retry) { retry_stale_ = retry; }
  const std::string& address() const { return address_; }
  int port() const { return port_; }

 private:
  Result<HttpResponse> SendOnce(const HttpRequest& request, bool* stale);
  // Reads more bytes into buffer_ before `deadline`: >0 bytes, 0 at EOF, or an error.
  Result<size_t> ReadMore(std::chrono::steady_clock::time_point deadline);
  Status WriteAll(std::string_view bytes, std::chrono::steady_clock::time_point deadline);

  Status Handshake(std::chrono::steady_clock::time_point deadline);
  // Waits for the socket as OpenSSL asked after `result`; an error when it failed for good.
  Status WaitTls(int result, std::chrono::steady_clock::time_point deadline, const char* what);
  void FreeTls();

  std::string address_;
  int port_;
  std::optional<TlsClientOptions> tls_;
  void* ssl_ctx_ = nullptr;  // SSL_CTX*, SSL*, SSL_SESSION* (no OpenSSL in this header)
  void* ssl_ = nullptr;
  void* session_ = nullptr;
  TlsHandshakeInfo tls_info_;
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
