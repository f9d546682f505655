#include "support/http_client.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

namespace gravity::test {

namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kMaxHeaderBytes = 1 << 20;

bool IEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

// True when the comma-separated header value contains `token` (case-insensitive).
bool HasToken(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    auto comma = value.find(',');
    if (IEquals(Trim(value.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

// The last comma-separated token of a header value.
std::string_view LastToken(std::string_view value) {
  auto comma = value.rfind(',');
  return Trim(comma == std::string_view::npos ? value : value.substr(comma + 1));
}

int RemainingMs(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::max<long>(0, left.count()));
}

}  // namespace

std::optional<std::string> HttpResponse::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (IEquals(k, name)) return v;
  }
  return std::nullopt;
}

std::string HttpResponse::HeaderOr(std::string_view name, std::string fallback) const {
  auto h = Header(name);
  return h ? *h : fallback;
}

HttpClient::HttpClient(std::string address, int port, std::chrono::milliseconds timeout)
    : address_(std::move(address)), port_(port), timeout_(timeout) {}

HttpClient::~HttpClient() {
  Close();
  if (session_) SSL_SESSION_free(static_cast<SSL_SESSION*>(session_));
  if (ssl_ctx_) SSL_CTX_free(static_cast<SSL_CTX*>(ssl_ctx_));
}

void HttpClient::UseTls(TlsClientOptions options) {
  Close();
  if (ssl_ctx_) SSL_CTX_free(static_cast<SSL_CTX*>(ssl_ctx_));
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  if (!options.ca_file.empty()) {
    SSL_CTX_load_verify_locations(ctx, options.ca_file.c_str(), nullptr);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  }
  std::string wire;
  for (const auto& p : options.alpn) {
    wire.push_back(static_cast<char>(p.size()));
    wire += p;
  }
  if (!wire.empty()) {
    SSL_CTX_set_alpn_protos(ctx, reinterpret_cast<const unsigned char*>(wire.data()),
                            static_cast<unsigned>(wire.size()));
  }
  ssl_ctx_ = ctx;
  tls_ = std::move(options);
}

void HttpClient::FreeTls() {
  if (!ssl_) return;
  SSL* ssl = static_cast<SSL*>(ssl_);
  // close_notify first: a session freed without it is marked not resumable.
  if (SSL_is_init_finished(ssl)) SSL_shutdown(ssl);
  ERR_clear_error();
  if (tls_ && tls_->resume && SSL_is_init_finished(ssl)) {
    if (SSL_SESSION* s = SSL_get1_session(ssl)) {
      if (session_) SSL_SESSION_free(static_cast<SSL_SESSION*>(session_));
      session_ = s;
    }
  }
  SSL_free(ssl);
  ssl_ = nullptr;
}

Status HttpClient::WaitTls(int result, Clock::time_point deadline, const char* what) {
  SSL* ssl = static_cast<SSL*>(ssl_);
  const int err = SSL_get_error(ssl, result);
  short events = err == SSL_ERROR_WANT_READ ? POLLIN : err == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
  if (events == 0) {
    if (err == SSL_ERROR_ZERO_RETURN) return Status::Error(std::string(what) + ": closed");
    char buf[256] = "connection closed";
    if (unsigned long e = ERR_get_error()) ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    return Status::Error(std::string(what) + ": " + buf);
  }
  pollfd p{fd_, events, 0};
  int left = RemainingMs(deadline);
  if (left == 0 || ::poll(&p, 1, left) == 0) return Status::Error(std::string(what) + ": timed out");
  return Status::Ok();
}

Status HttpClient::Handshake(Clock::time_point deadline) {
  SSL* ssl = SSL_new(static_cast<SSL_CTX*>(ssl_ctx_));
  ssl_ = ssl;
  SSL_set_fd(ssl, fd_);
  if (!tls_->sni.empty()) {
    SSL_set_tlsext_host_name(ssl, tls_->sni.c_str());
    if (!tls_->ca_file.empty()) SSL_set1_host(ssl, tls_->sni.c_str());
  }
  if (tls_->resume && session_) SSL_set_session(ssl, static_cast<SSL_SESSION*>(session_));
  for (;;) {
    ERR_clear_error();
    int r = SSL_connect(ssl);
    if (r == 1) break;
    RETURN_IF_ERROR(WaitTls(r, deadline, "TLS handshake"));
  }
  tls_info_ = {};
  tls_info_.protocol = SSL_get_version(ssl);
  const unsigned char* alpn = nullptr;
  unsigned alpn_len = 0;
  SSL_get0_alpn_selected(ssl, &alpn, &alpn_len);
  tls_info_.alpn.assign(reinterpret_cast<const char*>(alpn), alpn_len);
  tls_info_.resumed = SSL_session_reused(ssl) == 1;
  if (X509* cert = SSL_get1_peer_certificate(ssl)) {
    char buf[256] = {};
    X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf, sizeof buf);
    tls_info_.subject_cn = buf;
    buf[0] = 0;
    X509_NAME_get_text_by_NID(X509_get_issuer_name(cert), NID_commonName, buf, sizeof buf);
    tls_info_.issuer_cn = buf;
    if (BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr)) {
      char* hex = BN_bn2hex(bn);
      tls_info_.serial = hex;
      OPENSSL_free(hex);
      BN_free(bn);
    }
    X509_free(cert);
  }
  return Status::Ok();
}

void HttpClient::Close() {
  FreeTls();
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  reused_ = false;
  buffer_.clear();
}

Status HttpClient::Connect() {
  Close();
  std::string where = address_ + ":" + std::to_string(port_);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  std::string port = std::to_string(port_);
  if (int rc = ::getaddrinfo(address_.c_str(), port.c_str(), &hints, &res); rc != 0) {
    return Status::Error("connect to " + where + ": " + ::gai_strerror(rc));
  }
  int fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    ::freeaddrinfo(res);
    return Status::Error("connect to " + where + ": socket: " + std::strerror(errno));
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  int rc = ::connect(fd, res->ai_addr, res->ai_addrlen);
  ::freeaddrinfo(res);
  if (rc != 0 && errno != EINPROGRESS) {
    int e = errno;
    ::close(fd);
    return Status::Error("connect to " + where + ": " + std::strerror(e));
  }
  if (rc != 0) {
    pollfd p{fd, POLLOUT, 0};
    int n;
    do {
      n = ::poll(&p, 1, static_cast<int>(timeout_.count()));
    } while (n < 0 && errno == EINTR);
    if (n == 0) {
      ::close(fd);
      return Status::Error("connect to " + where + ": timed out");
    }
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      ::close(fd);
      return Status::Error("connect to " + where + ": " + std::strerror(err));
    }
  }
  fd_ = fd;
  ++connections_opened_;
  if (tls_) {
    Status hs = Handshake(Clock::now() + timeout_);
    if (!hs.ok()) {
      Close();
      return Status::Error("connect to " + where + ": " + hs.message());
    }
  }
  return Status::Ok();
}

Status HttpClient::WriteAll(std::string_view bytes, Clock::time_point deadline) {
  while (ssl_ && !bytes.empty()) {
    ERR_clear_error();
    size_t n = 0;
    int r = SSL_write_ex(static_cast<SSL*>(ssl_), bytes.data(), bytes.size(), &n);
    if (r == 1) {
      bytes.remove_prefix(n);
      continue;
    }
    RETURN_IF_ERROR(WaitTls(r, deadline, "write"));
  }
  while (!bytes.empty()) {
    ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n > 0) {
      bytes.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{fd_, POLLOUT, 0};
      int left = RemainingMs(deadline);
      if (left == 0 || ::poll(&p, 1, left) == 0) return Status::Error("write: timed out");
      continue;
    }
    return Status::Error(std::string("write: ") + std::strerror(errno));
  }
  return Status::Ok();
}

Result<size_t> HttpClient::ReadMore(Clock::time_point deadline) {
  char buf[65536];
  while (ssl_) {
    ERR_clear_error();
    size_t n = 0;
    int r = SSL_read_ex(static_cast<SSL*>(ssl_), buf, sizeof buf, &n);
    if (r == 1) {
      buffer_.append(buf, n);
      return n;
    }
    const int err = SSL_get_error(static_cast<SSL*>(ssl_), r);
    if (err == SSL_ERROR_ZERO_RETURN) return size_t{0};  // close_notify
    if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
      return Status::Error("read: the connection ended without close_notify");
    }
    Status w = WaitTls(r, deadline, "read");
    if (!w.ok()) {
      if (w.message().find("timed out") != std::string::npos) {
        return Status::Error("timed out after " + std::to_string(timeout_.count()) +
                             "ms waiting for the response");
      }
      return w;
    }
  }
  for (;;) {
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n > 0) {
      buffer_.append(buf, static_cast<size_t>(n));
      return static_cast<size_t>(n);
    }
    if (n == 0) return size_t{0};
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      return Status::Error(std::string("read: ") + std::strerror(errno));
    }
    pollfd p{fd_, POLLIN, 0};
    int left = RemainingMs(deadline);
    int r = left == 0 ? 0 : ::poll(&p, 1, left);
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) {
      return Status::Error("timed out after " + std::to_string(timeout_.count()) +
                           "ms waiting for the response");
    }
  }
}

Status HttpClient::SendRaw(std::string_view bytes) {
  if (fd_ < 0) RETURN_IF_ERROR(Connect());
  return WriteAll(bytes, Clock::now() + timeout_);
}

Result<HttpResponse> HttpClient::ReadResponse(
    bool head, const std::function<void(std::string_view)>& on_body) {
  if (fd_ < 0) return Status::Error("not connected");
  const auto deadline = Clock::now() + timeout_;
  HttpResponse res;
  // Status line and headers; 1xx interim responses (but 101) are skipped.
  for (;;) {
    size_t end;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (buffer_.size() > kMaxHeaderBytes) return Status::Error("response headers too large");
      ASSIGN_OR_RETURN(size_t n, ReadMore(deadline));
      if (n == 0) {
        return Status::Error(buffer_.empty() ? "connection closed before the response"
                                             : "connection closed inside the response headers");
      }
    }
    std::string_view head_block(buffer_.data(), end);
    auto line_end = head_block.find("\r\n");
    std::string_view status_line = head_block.substr(0, line_end);
    // HTTP/1.1 200 OK
    auto sp1 = status_line.find(' ');
    if (sp1 == std::string_view::npos || status_line.substr(0, 5) != "HTTP/") {
      return Status::Error("malformed status line '" + std::string(status_line) + "'");
    }
    res = HttpResponse();
    res.version = std::string(status_line.substr(0, sp1));
    std::string_view rest = status_line.substr(sp1 + 1);
    auto sp2 = rest.find(' ');
    std::string_view code = rest.substr(0, sp2);
    auto [ptr, ec] = std::from_chars(code.data(), code.data() + code.size(), res.status);
    if (ec != std::errc() || ptr != code.data() + code.size() || code.size() != 3) {
      return Status::Error("malformed status line '" + std::string(status_line) + "'");
    }
    res.reason = sp2 == std::string_view::npos ? "" : std::string(rest.substr(sp2 + 1));
    std::string_view lines =
        line_end == std::string_view::npos ? std::string_view() : head_block.substr(line_end + 2);
    while (!lines.empty()) {
      auto e = lines.find("\r\n");
      std::string_view line = lines.substr(0, e);
      auto colon = line.find(':');
      if (colon == std::string_view::npos || colon == 0) {
        return Status::Error("malformed header line '" + std::string(line) + "'");
      }
      res.headers.emplace_back(std::string(line.substr(0, colon)),
                               std::string(Trim(line.substr(colon + 1))));
      if (e == std::string_view::npos) break;
      lines.remove_prefix(e + 2);
    }
    buffer_.erase(0, end + 4);
    if (res.status >= 100 && res.status < 200 && res.status != 101) continue;
    break;
  }
  std::string connection = res.HeaderOr("Connection");
  if (res.version == "HTTP/1.0") {
    res.keep_alive = HasToken(connection, "keep-alive");
  } else {
    res.keep_alive = !HasToken(connection, "close");
  }
  auto deliver = [&](std::string_view piece) {
    res.body.append(piece);
    if (on_body) on_body(piece);
  };
  if (head || res.status == 204 || res.status == 304 || res.status == 101) {
    if (res.status == 101) res.keep_alive = false;
    return res;
  }
  auto te = res.Header("Transfer-Encoding");
  auto cl = res.Header("Content-Length");
  if (te && IEquals(LastToken(*te), "chunked")) {
    res.chunked = true;
    for (;;) {
      size_t eol;
      while ((eol = buffer_.find("\r\n")) == std::string::npos) {
        ASSIGN_OR_RETURN(size_t n, ReadMore(deadline));
        if (n == 0) return Status::Error("connection closed inside the chunked body");
      }
      std::string_view size_text(buffer_.data(), eol);
      size_text = Trim(size_text.substr(0, size_text.find(';')));
      size_t size = 0;
      auto [p, e] =
          std::from_chars(size_text.data(), size_text.data() + size_text.size(), size, 16);
      if (e != std::errc() || p != size_text.data() + size_text.size() || size_text.empty()) {
        return Status::Error("malformed chunk size '" + std::string(size_text) + "'");
      }
      buffer_.erase(0, eol + 2);
      if (size == 0) {
        // Trailers until an empty line.
        for (;;) {
          while ((eol = buffer_.find("\r\n")) == std::string::npos) {
            ASSIGN_OR_RETURN(size_t n, ReadMore(deadline));
            if (n == 0) return Status::Error("connection closed inside the chunked trailer");
          }
          bool empty = eol == 0;
          buffer_.erase(0, eol + 2);
          if (empty) break;
        }
        break;
      }
      while (buffer_.size() < size + 2) {
        ASSIGN_OR_RETURN(size_t n, ReadMore(deadline));
        if (n == 0) return Status::Error("connection closed inside the chunked body");
      }
      if (buffer_.compare(size, 2, "\r\n") != 0) {
        return Status::Error("chunk not followed by CRLF");
      }
      deliver(std::string_view(buffer_.data(), size));
      buffer_.erase(0, size + 2);
    }
  } else if (cl) {
    size_t length = 0;
    auto [p, e] = std::from_chars(cl->data(), cl->data() + cl->size(), length);
    if (e != std::errc() || p != cl->data() + cl->size()) {
      return Status::Error("malformed Content-Length '" + *cl + "'");
    }
    size_t remaining = length;
    while (remaining > 0) {
      if (buffer_.empty()) {
        ASSIGN_OR_RETURN(size_t n, ReadMore(deadline));
        if (n == 0) {
          return Status::Error("connection closed inside the body (" +
                               std::to_string(length - remaining) + " of " +
                               std::to_string(length) + " bytes)");
        }
      }
      size_t take = std::min(remaining, buffer_.size());
      deliver(std::string_view(buffer_.data(), take));
      buffer_.erase(0, take);
      remaining -= take;
    }
  } else {
    // Body delimited by the end of the connection.
    res.keep_alive = false;
    for (;;) {
      if (!buffer_.empty()) {
        deliver(buffer_);
        buffer_.clear();
      }
      ASSIGN_OR_RETURN(size_t n, ReadMore(deadline));
      if (n == 0) break;
    }
  }
  return res;
}

Result<std::string> HttpClient::ReadUntilClose() {
  if (fd_ < 0) return Status::Error("not connected");
  const auto deadline = Clock::now() + timeout_;
  for (;;) {
    auto n = ReadMore(deadline);
    if (!n.ok()) {
      if (n.error().rfind("read:", 0) == 0) break;  // reset: the peer is gone
      return n.status();
    }
    if (*n == 0) break;
  }
  std::string all = std::move(buffer_);
  Close();
  return all;
}

bool HttpClient::WaitClosed(std::chrono::milliseconds timeout) {
  if (fd_ < 0) return true;
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    auto n = ReadMore(deadline);
    buffer_.clear();
    if (!n.ok()) {
      if (n.error().rfind("read:", 0) == 0) {
        Close();
        return true;
      }
      return false;
    }
    if (*n == 0) {
      Close();
      return true;
    }
  }
}

Result<HttpResponse> HttpClient::SendOnce(const HttpRequest& request, bool* stale) {
  *stale = false;
  if (fd_ < 0) RETURN_IF_ERROR(Connect());
  const bool was_reused = reused_;
  std::string out;
  out.reserve(256 + request.body.size());
  out += request.method + " " + request.target + " HTTP/1.1\r\n";
  bool has_host = false, has_length = false;
  for (const auto& [k, v] : request.headers) {
    if (IEquals(k, "Host")) has_host = true;
    if (IEquals(k, "Content-Length") || IEquals(k, "Transfer-Encoding")) has_length = true;
  }
  if (!has_host) {
    out +=
        "Host: " + (request.host.empty() ? address_ + ":" + std::to_string(port_) : request.host) +
        "\r\n";
  }
  for (const auto& [k, v] : request.headers) out += k + ": " + v + "\r\n";
  if (!request.body.empty() && !has_length) {
    out += "Content-Length: " + std::to_string(request.body.size()) + "\r\n";
  }
  out += "\r\n";
  out += request.body;
  buffer_.clear();
  if (Status st = WriteAll(out, Clock::now() + timeout_); !st.ok()) {
    Close();
    *stale = was_reused;
    return st;
  }
  auto res = ReadResponse(request.method == "HEAD", request.on_body);
  if (!res.ok()) {
    // Nothing of the response arrived on a connection that served before: the server had
    // closed it while idle (a stale keep-alive connection).
    *stale = was_reused && buffer_.empty() &&
             (res.error().rfind("connection closed before", 0) == 0 ||
              res.error().rfind("read:", 0) == 0);
    Close();
    return res;
  }
  reused_ = true;
  if (!res->keep_alive) Close();
  return res;
}

Result<HttpResponse> HttpClient::Send(const HttpRequest& request) {
  bool stale = false;
  auto res = SendOnce(request, &stale);
  if (!res.ok() && stale && retry_stale_) res = SendOnce(request, &stale);
  return res;
}

Result<HttpResponse> HttpClient::Get(const std::string& target, const std::string& host) {
  HttpRequest req;
  req.target = target;
  req.host = host;
  return Send(req);
}

Result<HttpResponse> HttpGet(int port, const std::string& target, const std::string& host,
                             std::chrono::milliseconds timeout, const std::string& address) {
  HttpClient client(address, port, timeout);
  return client.Get(target, host);
}

}  // namespace gravity::test
