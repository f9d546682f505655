#include "acme/tls_alpn.h"

#include <gtest/gtest.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>

#include "acme/cert_info.h"

namespace gravity::acme {
namespace {

X509* ParseCert(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  return cert;
}

TEST(AcmeTlsAlpn, CertificateHasCriticalAcmeIdentifierWithDigest) {
  const std::string key_authorization = "token-abc.thumbprint-xyz";
  Result<PemPair> pair = MakeTlsAlpnCertificate("www.example.test", key_authorization);
  ASSERT_TRUE(pair.ok()) << pair.error();
  X509* cert = ParseCert(pair->certificate_pem);
  ASSERT_NE(cert, nullptr);
  ASN1_OBJECT* oid = OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1);
  int index = X509_get_ext_by_OBJ(cert, oid, -1);
  ASN1_OBJECT_free(oid);
  ASSERT_GE(index, 0) << "no id-pe-acmeIdentifier extension";
  X509_EXTENSION* ext = X509_get_ext(cert, index);
  EXPECT_EQ(X509_EXTENSION_get_critical(ext), 1);
  // extnValue holds DER OCTET STRING (tag 0x04, length 32) of SHA-256(key authorization).
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(key_authorization.data()), key_authorization.size(),
         digest);
  std::string expected =
      std::string("\x04\x20", 2) + std::string(reinterpret_cast<char*>(digest), sizeof(digest));
  ASN1_OCTET_STRING* value = X509_EXTENSION_get_data(ext);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(value)),
                        static_cast<size_t>(ASN1_STRING_length(value))),
            expected);
  // Self-signed: its own key verifies it.
  EVP_PKEY* pub = X509_get0_pubkey(cert);
  EXPECT_EQ(X509_verify(cert, pub), 1);
  X509_free(cert);
}

TEST(AcmeTlsAlpn, CertificateNamesTheDomainAndMatchesItsKey) {
  Result<PemPair> pair = MakeTlsAlpnCertificate("a.example.test", "t.k");
  ASSERT_TRUE(pair.ok()) << pair.error();
  Result<CertificateInfo> info = InspectCertificate(pair->certificate_pem);
  ASSERT_TRUE(info.ok()) << info.error();
  EXPECT_EQ(info->dns_names, std::vector<std::string>{"a.example.test"});
  EXPECT_TRUE(KeyMatchesCertificate(pair->certificate_pem, pair->key_pem).ok());
}

TEST(AcmeTlsAlpn, RefusesEmptyDomain) { EXPECT_FALSE(MakeTlsAlpnCertificate("", "t.k").ok()); }

}  // namespace
}  // namespace gravity::acme
