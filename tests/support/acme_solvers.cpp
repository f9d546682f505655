#include "support/acme_solvers.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

namespace gravity::test {

namespace {

constexpr char kChallengePath[] = "/.well-known/acme-challenge/";

}  // namespace

HttpChallengeServer::HttpChallengeServer()
    : target_([this](const std::string& head) { return Answer(head); }) {}

Status HttpChallengeServer::Present(acme::ChallengeType type, const std::string&,
                                    const std::string& token,
                                    const std::string& key_authorization) {
  if (type != acme::ChallengeType::kHttp01)
    return Status::InvalidArgument("HttpChallengeServer solves http-01 only");
  MutexLock lock(mu_);
  answers_[token] = key_authorization;
  ++presented_;
  return Status::Ok();
}

void HttpChallengeServer::CleanUp(acme::ChallengeType, const std::string&,
                                  const std::string& token) {
  MutexLock lock(mu_);
  answers_.erase(token);
  ++cleaned_up_;
}

std::size_t HttpChallengeServer::outstanding() const {
  MutexLock lock(mu_);
  return answers_.size();
}

RawReply HttpChallengeServer::Answer(const std::string& head) {
  // "GET /.well-known/acme-challenge/<token> HTTP/1.1"
  std::size_t start = head.find(kChallengePath);
  std::size_t end = head.find(' ', start == std::string::npos ? 0 : start);
  if (head.rfind("GET ", 0) != 0 || start == std::string::npos || end == std::string::npos)
    return {SimpleResponse(404, "not a challenge\n"), "", {}, true};
  std::string token =
      head.substr(start + std::strlen(kChallengePath), end - start - std::strlen(kChallengePath));
  MutexLock lock(mu_);
  auto it = answers_.find(token);
  if (it == answers_.end()) return {SimpleResponse(404, "unknown token\n"), "", {}, true};
  ++served_;
  std::string body = wrong_ ? it->second + "-wrong" : it->second;
  return {SimpleResponse(200, body, "Content-Type: application/octet-stream\r\n"), "", {}, true};
}

TlsAlpnChallengeServer::TlsAlpnChallengeServer() {
  ctx_ = SSL_CTX_new(TLS_server_method());
  SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
  SSL_CTX_set_alpn_select_cb(ctx_, &TlsAlpnChallengeServer::SelectAlpn, this);
  SSL_CTX_set_cert_cb(ctx_, &TlsAlpnChallengeServer::SelectCertificate, this);
}

TlsAlpnChallengeServer::~TlsAlpnChallengeServer() {
  Stop();
  SSL_CTX_free(ctx_);
}

bool TlsAlpnChallengeServer::Start() {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
      ::listen(listen_fd_, 16) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
    return false;
  port_ = ntohs(a.sin_port);
  acceptor_ = std::thread([this] { AcceptLoop(); });
  return true;
}

void TlsAlpnChallengeServer::Stop() {
  if (stopping_.exchange(true)) return;
  if (acceptor_.joinable()) acceptor_.join();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  listen_fd_ = -1;
}

Status TlsAlpnChallengeServer::Present(acme::ChallengeType type, const std::string& domain,
                                       const std::string&, const std::string& key_authorization) {
  if (type != acme::ChallengeType::kTlsAlpn01)
    return Status::InvalidArgument("TlsAlpnChallengeServer solves tls-alpn-01 only");
  ASSIGN_OR_RETURN(acme::PemPair pair, acme::MakeTlsAlpnCertificate(domain, key_authorization));
  MutexLock lock(mu_);
  certificates_[domain] = std::move(pair);
  ++presented_;
  return Status::Ok();
}

void TlsAlpnChallengeServer::CleanUp(acme::ChallengeType, const std::string& domain,
                                     const std::string&) {
  MutexLock lock(mu_);
  certificates_.erase(domain);
  ++cleaned_up_;
}

int TlsAlpnChallengeServer::SelectAlpn(SSL*, const unsigned char** out, unsigned char* out_len,
                                       const unsigned char* in, unsigned int in_len, void*) {
  static const unsigned char kOffer[] =
      "\x0a"
      "acme-tls/1";
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, out_len, kOffer, sizeof(kOffer) - 1, in, in_len) !=
      OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_ALERT_FATAL;  // RFC 8737 §3: only acme-tls/1 is answered
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

// Called before the server certificate is chosen: the SNI name picks the challenge cert.
int TlsAlpnChallengeServer::SelectCertificate(SSL* ssl, void* arg) {
  auto* self = static_cast<TlsAlpnChallengeServer*>(arg);
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (name == nullptr) return 0;
  MutexLock lock(self->mu_);
  auto it = self->certificates_.find(name);
  if (it == self->certificates_.end()) return 0;
  BIO* cbio = BIO_new_mem_buf(it->second.certificate_pem.data(),
                              static_cast<int>(it->second.certificate_pem.size()));
  BIO* kbio =
      BIO_new_mem_buf(it->second.key_pem.data(), static_cast<int>(it->second.key_pem.size()));
  X509* cert = PEM_read_bio_X509(cbio, nullptr, nullptr, nullptr);
  EVP_PKEY* key = PEM_read_bio_PrivateKey(kbio, nullptr, nullptr, nullptr);
  int ok =
      cert != nullptr && key != nullptr && SSL_use_cert_and_key(ssl, cert, key, nullptr, 1) == 1;
  X509_free(cert);
  EVP_PKEY_free(key);
  BIO_free(cbio);
  BIO_free(kbio);
  if (ok) ++self->served_;
  return ok;
}

void TlsAlpnChallengeServer::AcceptLoop() {
  // The validator may close before our close_notify: EPIPE, not a SIGPIPE that kills the
  // test binary. SIGPIPE goes to the writing thread, so blocking it here is enough.
  sigset_t pipe;
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
  while (!stopping_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd >= 0) Serve(fd);
  }
}

// One handshake at a time on the accept thread: validation makes few connections, and a
// 5 s socket timeout bounds a stuck peer.
void TlsAlpnChallengeServer::Serve(int fd) {
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  SSL* ssl = SSL_new(ctx_);
  SSL_set_fd(ssl, fd);
  if (SSL_accept(ssl) == 1) SSL_shutdown(ssl);
  ERR_clear_error();  // a refused handshake leaves its reasons queued on this thread
  SSL_free(ssl);
  ::close(fd);
}

}  // namespace gravity::test
