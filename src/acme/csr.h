#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace gravity::acme {

struct CertificateRequest {
  std::string der;      // the PKCS#10 CSR, DER
  std::string key_pem;  // PKCS#8 PEM of its new EC P-256 key
};

// A CSR for `names` (RFC 8555 §7.4): a new EC P-256 key, subjectAltName dNSName = every
// name, CN = the first name when it fits (64 characters), signed with SHA-256.
Result<CertificateRequest> MakeCertificateRequest(const std::vector<std::string>& names);

}  // namespace gravity::acme
