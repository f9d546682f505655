// ES256 signing and the flattened JWS serialization of AccountKey (account_key.h).
#include <openssl/ecdsa.h>

#include <nlohmann/json.hpp>

#include "acme/account_key.h"
#include "acme/base64url.h"
#include "acme/openssl_util.h"

namespace gravity::acme {

using internal::OpenSslError;
using internal::Owned;

Result<std::string> AccountKey::SignEs256(std::string_view data) const {
  Owned<EVP_MD_CTX> ctx(EVP_MD_CTX_new());
  size_t der_len = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, pkey()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &der_len,
                     reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1)
    return OpenSslError("ES256 signing");
  std::string der(der_len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(der.data()), &der_len,
                     reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1)
    return OpenSslError("ES256 signing");
  // OpenSSL yields an ASN.1 ECDSA-Sig-Value; JWS wants the two integers, 32 bytes each.
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  Owned<ECDSA_SIG> sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der_len)));
  if (!sig) return OpenSslError("decoding an ECDSA signature");
  std::string raw(64, '\0');
  auto* out = reinterpret_cast<unsigned char*>(raw.data());
  if (BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), out, 32) != 32 ||
      BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), out + 32, 32) != 32)
    return OpenSslError("ECDSA signature does not fit P-256");
  return raw;
}

Result<std::string> AccountKey::SignJws(const JwsHeader& header, std::string_view payload) const {
  nlohmann::json protected_header = {
      {"alg", "ES256"}, {"nonce", header.nonce}, {"url", header.url}};
  if (header.kid.empty()) {
    protected_header["jwk"] = nlohmann::json::parse(JwkJson());
  } else {
    protected_header["kid"] = header.kid;
  }
  std::string protected64 = Base64UrlEncode(protected_header.dump());
  std::string payload64 = Base64UrlEncode(payload);
  ASSIGN_OR_RETURN(std::string signature, SignEs256(protected64 + "." + payload64));
  nlohmann::json jws = {{"protected", protected64},
                        {"payload", payload64},
                        {"signature", Base64UrlEncode(signature)}};
  return jws.dump();
}

}  // namespace gravity::acme
