#include "proxy/tls_stream.h"

#include <openssl/err.h>
#include <sys/socket.h>

#include <cerrno>

namespace gravity::proxy {

namespace {

using asio::awaitable;
using asio::use_awaitable;

// A head and a body up to this size are written as one record (one send).
constexpr std::size_t kCoalesce = 16 * 1024;

int SocketOf(BIO* b) {
  auto* s = static_cast<tcp::socket*>(BIO_get_data(b));
  return s && s->is_open() ? s->native_handle() : -1;
}

int BioWrite(BIO* b, const char* data, int len) {
  BIO_clear_retry_flags(b);
  const int fd = SocketOf(b);
  if (fd < 0) {
    errno = EBADF;
    return -1;
  }
  ssize_t n = ::send(fd, data, static_cast<std::size_t>(len), MSG_NOSIGNAL);
  if (n >= 0) return static_cast<int>(n);
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) BIO_set_retry_write(b);
  return -1;
}

int BioRead(BIO* b, char* data, int len) {
  BIO_clear_retry_flags(b);
  const int fd = SocketOf(b);
  if (fd < 0) {
    errno = EBADF;
    return -1;
  }
  ssize_t n = ::recv(fd, data, static_cast<std::size_t>(len), 0);
  if (n >= 0) return static_cast<int>(n);
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) BIO_set_retry_read(b);
  return -1;
}

long BioCtrl(BIO*, int cmd, long, void*) { return cmd == BIO_CTRL_FLUSH ? 1 : 0; }

int BioCreate(BIO* b) {
  BIO_set_init(b, 1);
  return 1;
}

const BIO_METHOD* SocketMethod() {
  static BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "gravity socket");
    BIO_meth_set_write(m, BioWrite);
    BIO_meth_set_read(m, BioRead);
    BIO_meth_set_ctrl(m, BioCtrl);
    BIO_meth_set_create(m, BioCreate);
    return m;
  }();
  return method;
}

}  // namespace

TlsStream::TlsStream(SSL_CTX* base, tcp::socket& sock) : sock_(sock) {
  error_code ec;
  sock_.non_blocking(true, ec);
  if (ec) return;
  BIO* bio = BIO_new(SocketMethod());
  if (!bio) return;
  BIO_set_data(bio, &sock_);
  ssl_ = SSL_new(base);
  if (!ssl_) {
    BIO_free(bio);
    return;
  }
  SSL_set_bio(ssl_, bio, bio);
  SSL_set_accept_state(ssl_);
}

TlsStream::~TlsStream() {
  if (ssl_) SSL_free(ssl_);
}

std::string_view TlsStream::protocol() const { return ssl_ ? SSL_get_version(ssl_) : ""; }

std::string_view TlsStream::alpn() const {
  if (!ssl_) return "";
  const unsigned char* data = nullptr;
  unsigned int len = 0;
  SSL_get0_alpn_selected(ssl_, &data, &len);
  return data ? std::string_view(reinterpret_cast<const char*>(data), len) : "";
}

void TlsStream::ReleaseScratch() { std::string().swap(scratch_); }

// After an SSL call returned `result`: waits for the socket when OpenSSL would block.
awaitable<TlsStream::Step> TlsStream::AfterError(int result, error_code& ec) {
  const int err = SSL_get_error(ssl_, result);
  auto tok = asio::redirect_error(use_awaitable, ec);
  if (err == SSL_ERROR_WANT_READ) {
    co_await sock_.async_wait(tcp::socket::wait_read, tok);
    co_return ec ? Step::kFailed : Step::kRetry;
  }
  if (err == SSL_ERROR_WANT_WRITE) {
    co_await sock_.async_wait(tcp::socket::wait_write, tok);
    co_return ec ? Step::kFailed : Step::kRetry;
  }
  if (err == SSL_ERROR_ZERO_RETURN) {
    ec = asio::error::eof;  // the client's close_notify: a clean end
  } else {
    broken_ = true;
    ec = sock_.is_open() ? asio::error::connection_reset : asio::error::bad_descriptor;
  }
  ERR_clear_error();
  co_return Step::kFailed;
}

awaitable<bool> TlsStream::Handshake(error_code& ec) {
  if (!ssl_) {
    ec = asio::error::no_memory;
    co_return false;
  }
  for (;;) {
    ERR_clear_error();
    const int r = SSL_do_handshake(ssl_);
    if (r == 1) co_return true;
    if (co_await AfterError(r, ec) != Step::kRetry) {
      broken_ = true;
      co_return false;
    }
  }
}

awaitable<std::size_t> TlsStream::ReadSome(asio::mutable_buffer b, error_code& ec) {
  for (;;) {
    ERR_clear_error();
    std::size_t n = 0;
    const int r = SSL_read_ex(ssl_, b.data(), b.size(), &n);
    if (r == 1) {
      ec = {};
      co_return n;
    }
    if (co_await AfterError(r, ec) != Step::kRetry) co_return 0;
  }
}

awaitable<void> TlsStream::WriteAll(std::string_view d, error_code& ec) {
  ec = {};
  while (!d.empty()) {
    ERR_clear_error();
    std::size_t n = 0;
    const int r = SSL_write_ex(ssl_, d.data(), d.size(), &n);
    if (r == 1) {
      d.remove_prefix(n);
      continue;
    }
    // A retry passes the same bytes again (SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER).
    if (co_await AfterError(r, ec) != Step::kRetry) {
      if (!ec || ec == asio::error::eof) ec = asio::error::broken_pipe;
      co_return;
    }
  }
}

awaitable<void> TlsStream::Write(std::string_view a, std::string_view b, error_code& ec) {
  if (!a.empty() && !b.empty() && a.size() + b.size() <= kCoalesce) {
    scratch_.assign(a);
    scratch_.append(b);
    co_await WriteAll(scratch_, ec);
    co_return;
  }
  co_await WriteAll(a, ec);
  if (!ec) co_await WriteAll(b, ec);
}

void TlsStream::Close() {
  if (!ssl_ || broken_ || !sock_.is_open() || SSL_is_init_finished(ssl_) != 1) return;
  ERR_clear_error();
  SSL_shutdown(ssl_);  // queues and tries to send close_notify; a full socket drops it
  ERR_clear_error();
}

}  // namespace gravity::proxy
