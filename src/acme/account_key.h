#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

typedef struct evp_pkey_st EVP_PKEY;

namespace gravity::acme {

// The protected header of one JWS sent to an ACME server (RFC 8555 §6.2): alg is always
// ES256; the key is named by `kid` (the account URL) or, when kid is empty, embedded as a
// JWK (newAccount, and revocation by certificate key).
struct JwsHeader {
  std::string url;
  std::string nonce;
  std::string kid;
};

// An ACME account key: EC P-256, kept in a PEM file (PKCS#8) readable by its owner only.
// Immutable after construction and so safe to share between threads; copies share the key.
class AccountKey {
 public:
  // Loads the key at `path`, or creates it there when no file exists: a new key written
  // once, mode 0600, atomically (temp file + link, which unlike rename never replaces a key
  // another process created meanwhile: then that key is used). Refuses a file group or others
  // can read, naming the path, since whoever reads it can act as the account.
  static Result<AccountKey> LoadOrCreate(const std::string& path);
  // A key from PEM text (any EC P-256 private key encoding OpenSSL reads).
  static Result<AccountKey> FromPem(std::string_view pem);
  // A new key that lives in memory only.
  static Result<AccountKey> Generate();

  // The public key as a JWK (RFC 7517) in RFC 7638's canonical form: required members
  // only, in lexicographic order, no whitespace: {"crv":"P-256","kty":"EC","x":..,"y":..}.
  std::string JwkJson() const;
  // RFC 7638 thumbprint: base64url(SHA-256(JwkJson())).
  std::string Thumbprint() const;
  // The key authorization for a challenge token: token "." thumbprint (RFC 8555 §8.1).
  std::string KeyAuthorization(std::string_view token) const;

  // ES256 signature over `data`: raw r||s, 64 bytes (RFC 7518 §3.4), not DER.
  Result<std::string> SignEs256(std::string_view data) const;
  // A JWS in flattened JSON serialization (RFC 7515 §7.2.2) over `payload` (the exact
  // bytes; empty for POST-as-GET), with `header` as the protected header.
  Result<std::string> SignJws(const JwsHeader& header, std::string_view payload) const;

  // The private key as PKCS#8 PEM; the public key as SubjectPublicKeyInfo PEM.
  Result<std::string> PrivateKeyPem() const;
  Result<std::string> PublicKeyPem() const;
  EVP_PKEY* pkey() const { return key_.get(); }

 private:
  explicit AccountKey(std::shared_ptr<EVP_PKEY> key);
  std::shared_ptr<EVP_PKEY> key_;
  std::string jwk_json_;  // computed once: every JWS with an embedded key needs it
};

// base64url(SHA-256(canonical_jwk_json)): the RFC 7638 thumbprint of a JWK already in
// canonical form (any key type; the RFC's own example is RSA).
std::string JwkThumbprint(std::string_view canonical_jwk_json);

}  // namespace gravity::acme
