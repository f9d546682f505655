#pragma once

// ACME challenge solvers for tests: real loopback servers that pebble's validation
// authority reaches (point PebbleOptions::http_port / tls_port at their ports).
// Thread-safety: Present/CleanUp on the ACME client's thread; the servers answer on their
// own threads; the counters may be read from any thread.

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "acme/client.h"
#include "acme/tls_alpn.h"
#include "common/thread_annotations.h"
#include "support/raw_target.h"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

namespace gravity::test {

// http-01: GET /.well-known/acme-challenge/<token> answers the key authorization.
class HttpChallengeServer : public acme::ChallengeSolver {
 public:
  HttpChallengeServer();
  bool Start() { return target_.Start(); }
  int port() const { return target_.port(); }

  Status Present(acme::ChallengeType type, const std::string& domain, const std::string& token,
                 const std::string& key_authorization) override;
  void CleanUp(acme::ChallengeType type, const std::string& domain,
               const std::string& token) override;

  // Serve a wrong key authorization (to make validation fail).
  void set_wrong_answers(bool wrong) { wrong_ = wrong; }
  int presented() const { return presented_; }
  int cleaned_up() const { return cleaned_up_; }
  int served() const { return served_; }  // challenge requests answered
  // Tokens presented and not yet cleaned up.
  std::size_t outstanding() const;

 private:
  RawReply Answer(const std::string& head);

  mutable Mutex mu_;
  std::map<std::string, std::string> answers_ GUARDED_BY(mu_);  // token -> key authorization
  std::atomic<bool> wrong_{false};
  std::atomic<int> presented_{0};
  std::atomic<int> cleaned_up_{0};
  std::atomic<int> served_{0};
  RawTarget target_;  // last: its threads stop before the members above go
};

// tls-alpn-01: a TLS server that completes handshakes only for ALPN acme-tls/1 and
// presents, for the SNI name, the certificate MakeTlsAlpnCertificate made for it.
class TlsAlpnChallengeServer : public acme::ChallengeSolver {
 public:
  TlsAlpnChallengeServer();
  ~TlsAlpnChallengeServer() override;
  bool Start();
  void Stop();
  int port() const { return port_; }

  Status Present(acme::ChallengeType type, const std::string& domain, const std::string& token,
                 const std::string& key_authorization) override;
  void CleanUp(acme::ChallengeType type, const std::string& domain,
               const std::string& token) override;

  int presented() const { return presented_; }
  int cleaned_up() const { return cleaned_up_; }
  int served() const { return served_; }  // handshakes answered with a challenge certificate

 private:
  static int SelectAlpn(SSL* ssl, const unsigned char** out, unsigned char* out_len,
                        const unsigned char* in, unsigned int in_len, void* arg);
  static int SelectCertificate(SSL* ssl, void* arg);
  void AcceptLoop();
  void Serve(int fd);

  SSL_CTX* ctx_ = nullptr;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  mutable Mutex mu_;
  std::map<std::string, acme::PemPair> certificates_ GUARDED_BY(mu_);  // by domain
  std::atomic<int> presented_{0};
  std::atomic<int> cleaned_up_{0};
  std::atomic<int> served_{0};
};

}  // namespace gravity::test
