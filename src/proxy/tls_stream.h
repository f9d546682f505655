#pragma once

// One TLS connection of the HTTPS listener, driven by the session's coroutine.
//
// OpenSSL reads and writes the client's socket itself (a BIO over the socket, no copies
// through memory buffers); when it would block, the coroutine waits for the socket to be
// readable or writable. The BIO looks the descriptor up on every call, so once a deadline
// (a Watch) has closed the socket OpenSSL can never touch a descriptor number the kernel
// may already have given to another connection. Closing sends close_notify when it can
// without waiting, so a body that ends at close is not mistaken for a truncation.
// Thread-safety: a TlsStream lives on its session's worker thread only.

#include <openssl/ssl.h>

#include <string>
#include <string_view>

#include "proxy/internal.h"

namespace gravity::proxy {

class TlsStream {
 public:
  TlsStream(SSL_CTX* base, tcp::socket& sock);
  ~TlsStream();
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  bool ok() const { return ssl_ != nullptr; }
  asio::awaitable<bool> Handshake(error_code& ec);
  asio::awaitable<std::size_t> ReadSome(asio::mutable_buffer b, error_code& ec);
  // Writes `a` then `b`; small pairs go out as one record.
  asio::awaitable<void> Write(std::string_view a, std::string_view b, error_code& ec);
  // Decrypted or undecrypted bytes already read from the socket.
  bool HasPending() const { return ssl_ && SSL_has_pending(ssl_) == 1; }
  void Close();           // close_notify if the connection is still sound; never waits
  void ReleaseScratch();  // frees the coalescing buffer (idle connections)
  std::string_view protocol() const;  // "TLSv1.3", ...
  std::string_view alpn() const;      // the agreed application protocol ("h2"), or ""

 private:
  enum class Step { kDone, kRetry, kFailed };
  asio::awaitable<Step> AfterError(int result, error_code& ec);
  asio::awaitable<void> WriteAll(std::string_view d, error_code& ec);

  tcp::socket& sock_;
  SSL* ssl_ = nullptr;
  bool broken_ = false;  // a fatal error: no close_notify
  std::string scratch_;
};

}  // namespace gravity::proxy
