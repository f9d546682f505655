#pragma once

#include <string>

#include "common/status.h"

namespace gravity::acme {

struct PemPair {
  std::string certificate_pem;
  std::string key_pem;  // PKCS#8
};

// The OID of id-pe-acmeIdentifier (RFC 8737 §6.1).
inline constexpr char kAcmeIdentifierOid[] = "1.3.6.1.5.5.7.1.31";
// The ALPN protocol name of tls-alpn-01 validation.
inline constexpr char kAcmeTlsAlpnProtocol[] = "acme-tls/1";

// The tls-alpn-01 validation certificate (RFC 8737 §3): self-signed, a new EC P-256 key,
// subjectAltName dNSName = domain, and the critical id-pe-acmeIdentifier extension whose
// value is an ASN.1 OCTET STRING holding SHA-256(key_authorization). Valid for 7 days.
Result<PemPair> MakeTlsAlpnCertificate(const std::string& domain,
                                       const std::string& key_authorization);

}  // namespace gravity::acme
