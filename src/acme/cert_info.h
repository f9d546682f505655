#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "common/status.h"

namespace gravity::acme {

// What a certificate manager needs to know of a certificate (the first of a PEM chain).
struct CertificateInfo {
  std::string subject_cn;              // "" when the subject has no CN
  std::vector<std::string> dns_names;  // subjectAltName dNSName entries, in order
  std::string issuer;                  // the issuer's CN, or its full one-line name
  std::chrono::system_clock::time_point not_before;
  std::chrono::system_clock::time_point not_after;
  std::string serial;  // upper-case hex, no leading zeros
};

// Parses the first certificate of `chain_pem`. Errors for text that holds no PEM
// certificate say so ("no PEM certificate in the input").
Result<CertificateInfo> InspectCertificate(const std::string& chain_pem);

// Ok when `key_pem`'s key is the public key of the first certificate of `chain_pem`.
Status KeyMatchesCertificate(const std::string& chain_pem, const std::string& key_pem);

// Ok when the first certificate of `chain_pem` chains, through the others in
// `chain_pem`, to one of the certificates in `trusted_pem`, and is valid now.
Status VerifyCertificateChain(const std::string& chain_pem, const std::string& trusted_pem);

}  // namespace gravity::acme
