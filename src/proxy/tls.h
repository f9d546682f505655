#pragma once

// TLS at the edge: the certificates the HTTPS listener serves and how a handshake picks one.
//
// Every TLS connection starts from one base context (TLS 1.2 and 1.3 only, the widely
// compatible "intermediate" cipher list, no renegotiation, buffers released while idle).
// Its ClientHello callback reads the SNI name and picks the host's context — exact name
// first, then a wildcard one label deep (*.example.com), then the default certificate if one
// is set; with none the handshake is refused with an unrecognized_name alert. A client that
// offers ALPN "acme-tls/1" for a host with a pending TLS-ALPN-01 challenge (RFC 8737) gets
// that challenge's certificate instead.
//
// Certificates are replaced by publishing a new immutable snapshot: new handshakes see it,
// open connections keep the context they started with (OpenSSL counts its references).
// Session tickets are encrypted with keys shared by every context and rotated (the current
// key issues, the previous ones still decrypt), so resumption survives a certificate change.
// The snapshot is also saved under the proxy's state dir (0600) and restored at start.
// Thread-safety: every method may be called from any thread; handshakes on the workers read
// the current snapshot without blocking each other.

#include <openssl/ssl.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "common/thread_annotations.h"

namespace gravity::proxy {

// What a certificate in the store is, for `gravity certs`, the control API and metrics.
struct CertificateSummary {
  std::string host;                // exact name or *.domain the certificate is served for
  std::vector<std::string> names;  // the certificate's DNS names
  std::string issuer;              // the issuer's common name (or the whole issuer line)
  std::int64_t not_before = 0;     // Unix seconds
  std::int64_t not_after = 0;      // Unix seconds
  std::string source;              // "file", "acme", ... (as given by whoever put it)
  bool is_default = false;         // served to clients with no or an unknown SNI name
};

// Checks and loads a PEM certificate chain (leaf first) and its private key.
struct LoadedCertificate {
  std::shared_ptr<SSL_CTX> ctx;
  CertificateSummary summary;
};

class TlsStore {
 public:
  explicit TlsStore(Clock& clock);
  ~TlsStore();
  TlsStore(const TlsStore&) = delete;
  TlsStore& operator=(const TlsStore&) = delete;

  // The context every TLS connection is created from.
  SSL_CTX* base() const { return base_.get(); }

  // Serves `chain_pem` + `key_pem` for `host` (an exact name or *.domain). Fails, changing
  // nothing, when the PEM does not parse, the key does not match, or the host is invalid.
  Status Put(const std::string& host, const std::string& chain_pem, const std::string& key_pem,
             const std::string& source, bool is_default);
  bool Remove(const std::string& host);
  std::vector<CertificateSummary> List() const;
  // True when a TLS handshake for `host` would get a certificate of its own (not the
  // default one): plain HTTP for it may be redirected to HTTPS.
  bool Covers(std::string_view host) const;

  // ACME challenges answered by the proxy itself.
  Status PutAlpnChallenge(const std::string& domain, const std::string& cert_pem,
                          const std::string& key_pem);
  void RemoveAlpnChallenge(const std::string& domain);
  void PutHttpChallenge(const std::string& token, const std::string& key_authorization);
  void RemoveHttpChallenge(const std::string& token);
  std::optional<std::string> HttpChallenge(std::string_view token) const;

  // Persistence: one file per host under `dir` (0700; files 0600). Load skips (and logs)
  // files that no longer parse, so one bad file does not keep the others from loading.
  void SetStateDir(std::string dir);
  void Restore();

 private:
  struct Snapshot;
  struct TicketKey {
    unsigned char name[16];
    unsigned char aes[32];
    unsigned char hmac[32];
    Clock::TimePoint made;
  };

  static int OnClientHello(SSL* ssl, int* alert, void* arg);
  static int OnTicketKey(SSL* ssl, unsigned char* name, unsigned char* iv, EVP_CIPHER_CTX* cipher,
                         EVP_MAC_CTX* mac, int enc);
  int PickContext(SSL* ssl, int* alert) const;
  int TicketKeyFor(unsigned char* name, unsigned char* iv, EVP_CIPHER_CTX* cipher,
                   EVP_MAC_CTX* mac, int enc);
  std::shared_ptr<const Snapshot> Current() const;
  void Publish(std::shared_ptr<Snapshot> next) REQUIRES(mu_);
  void Save(const Snapshot& snap, const std::string& host) const REQUIRES(mu_);
  void RemoveSaved(const std::string& host) const REQUIRES(mu_);

  Clock& clock_;
  std::shared_ptr<SSL_CTX> base_;
  mutable Mutex mu_;  // serializes writers; readers take the atomic snapshot
  std::shared_ptr<const Snapshot> snap_ GUARDED_BY(mu_);
  std::atomic<std::shared_ptr<const Snapshot>> current_;
  std::string state_dir_ GUARDED_BY(mu_);
  Mutex ticket_mu_;
  std::vector<TicketKey> tickets_ GUARDED_BY(ticket_mu_);  // newest first
};

// Validates an SNI / Host name as the store uses it: letters, digits, '-', '.', '_', at most
// 253 bytes, no empty label; lowercased into `out`. A leading "*." is allowed only when
// `wildcard` (certificate hosts).
bool NormalizeHostName(std::string_view in, bool wildcard, std::string* out);

// Loads a context for one certificate (the same settings as the base, with the chain and key).
Result<LoadedCertificate> LoadCertificate(const std::string& chain_pem, const std::string& key_pem);

}  // namespace gravity::proxy
