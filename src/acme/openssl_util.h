#pragma once

// Internal to gravity_acme: ownership wrappers for OpenSSL objects and the error text of
// OpenSSL's error queue, so every failure can say what OpenSSL said.

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace gravity::acme::internal {

struct OpenSslFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
  void operator()(BIO* p) const { BIO_free_all(p); }
  void operator()(X509* p) const { X509_free(p); }
  void operator()(X509_REQ* p) const { X509_REQ_free(p); }
  void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); }
  void operator()(X509_NAME* p) const { X509_NAME_free(p); }
  void operator()(GENERAL_NAMES* p) const { GENERAL_NAMES_free(p); }
  void operator()(ASN1_OCTET_STRING* p) const { ASN1_OCTET_STRING_free(p); }
  void operator()(ASN1_OBJECT* p) const { ASN1_OBJECT_free(p); }
  void operator()(ECDSA_SIG* p) const { ECDSA_SIG_free(p); }
  void operator()(BIGNUM* p) const { BN_free(p); }
  void operator()(X509_STORE* p) const { X509_STORE_free(p); }
  void operator()(X509_STORE_CTX* p) const { X509_STORE_CTX_free(p); }
};
template <typename T>
using Owned = std::unique_ptr<T, OpenSslFree>;

// "what: <OpenSSL's reasons>" (drains the thread's error queue).
Status OpenSslError(const std::string& what);
// Drops whatever is queued, so a later error message does not show stale reasons.
void ClearOpenSslErrors();

// A new EC P-256 key.
Result<Owned<EVP_PKEY>> GenerateP256Key();
// PKCS#8 PEM of a private key.
Result<std::string> PrivateKeyPem(EVP_PKEY* key);
// Parses a PEM private key.
Result<Owned<EVP_PKEY>> ParsePrivateKeyPem(std::string_view pem);
// The PEM text of a certificate.
Result<std::string> CertificatePem(X509* cert);
// SHA-256 of `data`, 32 raw bytes.
std::string Sha256(std::string_view data);
// A random serial number for a self-signed certificate.
Status SetRandomSerial(X509* cert);

}  // namespace gravity::acme::internal

namespace gravity::acme::internal {

// A subjectAltName extension (not critical) of dNSName entries.
Result<Owned<X509_EXTENSION>> DnsSanExtension(const std::vector<std::string>& names);
// Sets the subject (or issuer) name to CN=common_name.
Status SetCommonName(X509_NAME* name, const std::string& common_name);

}  // namespace gravity::acme::internal
