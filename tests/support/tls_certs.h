#pragma once

// Certificates for TLS tests, made with OpenSSL in a temp dir: a test CA and leaf
// certificates it signs (ECDSA P-256 or RSA 2048, any DNS names, any lifetime).
// Not thread-safe.

#include <chrono>
#include <string>
#include <vector>

namespace gravity::test {

enum class KeyType { kEcdsaP256, kRsa2048 };

struct TestCert {
  std::string chain_pem;  // leaf, then the CA
  std::string key_pem;
  std::string chain_file;  // the same, written under the factory's dir
  std::string key_file;
};

class CertFactory {
 public:
  // Makes a CA named `ca_name` and writes it to DIR/ca.pem.
  CertFactory(std::string dir, const std::string& ca_name = "Gravity Test CA");
  ~CertFactory();
  CertFactory(const CertFactory&) = delete;
  CertFactory& operator=(const CertFactory&) = delete;

  // A leaf for `names` (the first is the CN), valid from now - 1 min for `lifetime`; files
  // DIR/<file_stem>.pem and DIR/<file_stem>.key.
  TestCert Issue(const std::vector<std::string>& names, const std::string& file_stem,
                 KeyType type = KeyType::kEcdsaP256,
                 std::chrono::seconds lifetime = std::chrono::hours(24 * 10));
  const std::string& ca_file() const { return ca_file_; }
  const std::string& ca_pem() const { return ca_pem_; }

 private:
  std::string dir_;
  std::string ca_file_;
  std::string ca_pem_;
  void* ca_key_ = nullptr;   // EVP_PKEY*
  void* ca_cert_ = nullptr;  // X509*
  long serial_ = 1;
};

}  // namespace gravity::test
