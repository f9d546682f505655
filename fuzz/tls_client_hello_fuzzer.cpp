// The HTTPS listener's first bytes: a ClientHello as any client (or attacker) sends it.
//
// Each input is fed to a server-side TLS connection made from the proxy's TlsStore (its
// ClientHello callback reads the SNI name and the ALPN list to pick a certificate or an
// ACME TLS-ALPN-01 challenge), and the same bytes are checked as a host name.
// Properties: nothing crashes, reads out of bounds or leaks; a host name the store accepts
// is at most 253 bytes of lowercase letters, digits, '-', '_' and '.' (plus a leading "*."
// for certificate hosts), with no empty label.

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/clock.h"
#include "fuzz_check.h"
#include "proxy/tls.h"

namespace {

std::string Pem(bool key_not_cert, X509* cert, EVP_PKEY* key) {
  BIO* b = BIO_new(BIO_s_mem());
  if (key_not_cert) {
    PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr);
  } else {
    PEM_write_bio_X509(b, cert);
  }
  char* d = nullptr;
  long n = BIO_get_mem_data(b, &d);
  std::string out(d, static_cast<std::size_t>(n));
  BIO_free(b);
  return out;
}

// A self-signed certificate for `name` (the fuzzer needs certificates, not trust).
std::pair<std::string, std::string> SelfSigned(const char* name) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  X509_gmtime_adj(X509_getm_notBefore(cert), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert), 86400);
  X509_set_pubkey(cert, key);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(name), -1, -1, 0);
  X509_set_issuer_name(cert, X509_get_subject_name(cert));
  X509_sign(cert, key, EVP_sha256());
  auto out = std::make_pair(Pem(false, cert, key), Pem(true, cert, key));
  X509_free(cert);
  EVP_PKEY_free(key);
  return out;
}

gravity::proxy::TlsStore& Store() {
  static gravity::proxy::TlsStore* store = [] {
    auto* s = new gravity::proxy::TlsStore(gravity::Clock::Real());
    auto a = SelfSigned("a.test");
    auto w = SelfSigned("*.w.test");
    auto c = SelfSigned("c.test");
    FUZZ_CHECK(s->Put("a.test", a.first, a.second, "file", true).ok());
    FUZZ_CHECK(s->Put("*.w.test", w.first, w.second, "acme", false).ok());
    FUZZ_CHECK(s->PutAlpnChallenge("c.test", c.first, c.second).ok());
    return s;
  }();
  return *store;
}

void CheckHostName(std::string_view in, bool wildcard) {
  std::string out;
  if (!gravity::proxy::NormalizeHostName(in, wildcard, &out)) return;
  std::string_view name = out;
  if (wildcard && name.substr(0, 2) == "*.") name.remove_prefix(2);
  FUZZ_CHECK(!name.empty() && name.size() <= 253);
  FUZZ_CHECK(name.front() != '.' && name.back() != '.');
  FUZZ_CHECK(name.find("..") == std::string_view::npos);
  for (char c : name) {
    FUZZ_CHECK((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
               c == '.');
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  SSL* ssl = SSL_new(Store().base());
  BIO* in = BIO_new_mem_buf(data, static_cast<int>(size));
  BIO* out = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl, in, out);
  SSL_set_accept_state(ssl);
  SSL_do_handshake(ssl);  // reads the ClientHello, runs the store's callbacks
  SSL_free(ssl);
  ERR_clear_error();
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  CheckHostName(text, false);
  CheckHostName(text, true);
  return 0;
}
