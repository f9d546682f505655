#include "acme/cert_info.h"

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "acme/tls_alpn.h"

namespace gravity::acme {
namespace {

using std::chrono::system_clock;

constexpr time_t kNotBefore = 1767225600;  // 2026-01-01T00:00:00Z
constexpr time_t kNotAfter = kNotBefore + 90 * 24 * 3600;

std::string Pem(X509* cert) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, cert);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(n));
  BIO_free(bio);
  return out;
}

// A certificate made directly with OpenSSL: CN=www.example.test, two DNS names, serial
// 0x0123ABCD, issuer CN=Gravity Test CA (or O=Gravity Test only), 90 days from 2026-01-01.
std::string MakeCert(bool issuer_has_cn) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* cert = X509_new();
  X509_set_version(cert, X509_VERSION_3);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 0x0123ABCD);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("www.example.test"), -1, -1, 0);
  X509_NAME* issuer = X509_get_issuer_name(cert);
  X509_NAME_add_entry_by_txt(issuer, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("Gravity Test"), -1, -1, 0);
  if (issuer_has_cn)
    X509_NAME_add_entry_by_txt(issuer, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("Gravity Test CA"), -1, -1,
                               0);
  ASN1_TIME_set(X509_getm_notBefore(cert), kNotBefore);
  ASN1_TIME_set(X509_getm_notAfter(cert), kNotAfter);
  X509_set_pubkey(cert, key);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  X509_EXTENSION* san = X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name,
                                            "DNS:www.example.test,DNS:example.test");
  X509_add_ext(cert, san, -1);
  X509_EXTENSION_free(san);
  X509_sign(cert, key, EVP_sha256());
  std::string pem = Pem(cert);
  X509_free(cert);
  EVP_PKEY_free(key);
  return pem;
}

TEST(AcmeCertInfo, ReadsNamesIssuerValidityAndSerial) {
  Result<CertificateInfo> info = InspectCertificate(MakeCert(true));
  ASSERT_TRUE(info.ok()) << info.error();
  EXPECT_EQ(info->subject_cn, "www.example.test");
  EXPECT_EQ(info->dns_names, (std::vector<std::string>{"www.example.test", "example.test"}));
  EXPECT_EQ(info->issuer, "Gravity Test CA");
  EXPECT_EQ(info->not_before, system_clock::from_time_t(kNotBefore));
  EXPECT_EQ(info->not_after, system_clock::from_time_t(kNotAfter));
  EXPECT_EQ(info->serial, "0123ABCD");
}

TEST(AcmeCertInfo, IssuerWithoutCnIsTheOneLineName) {
  Result<CertificateInfo> info = InspectCertificate(MakeCert(false));
  ASSERT_TRUE(info.ok()) << info.error();
  EXPECT_EQ(info->issuer, "O = Gravity Test");
}

TEST(AcmeCertInfo, FirstCertificateOfAChainIsInspected) {
  Result<PemPair> other = MakeTlsAlpnCertificate("other.test", "x.y");
  ASSERT_TRUE(other.ok());
  Result<CertificateInfo> info = InspectCertificate(MakeCert(true) + other->certificate_pem);
  ASSERT_TRUE(info.ok()) << info.error();
  EXPECT_EQ(info->subject_cn, "www.example.test");
}

TEST(AcmeCertInfo, GarbageIsAClearError) {
  for (const std::string& garbage :
       {std::string(""), std::string("hello"),
        std::string("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")}) {
    Result<CertificateInfo> info = InspectCertificate(garbage);
    ASSERT_FALSE(info.ok());
    EXPECT_EQ(info.error(), "no PEM certificate in the input");
  }
}

TEST(AcmeCertInfo, KeyMatchesOnlyItsCertificate) {
  Result<PemPair> a = MakeTlsAlpnCertificate("a.test", "1.2");
  Result<PemPair> b = MakeTlsAlpnCertificate("b.test", "1.2");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(KeyMatchesCertificate(a->certificate_pem, a->key_pem).ok());
  Status mismatch = KeyMatchesCertificate(a->certificate_pem, b->key_pem);
  EXPECT_FALSE(mismatch.ok());
  EXPECT_NE(mismatch.message().find("does not match"), std::string::npos) << mismatch.message();
  EXPECT_FALSE(KeyMatchesCertificate(a->certificate_pem, "garbage").ok());
  EXPECT_FALSE(KeyMatchesCertificate("garbage", a->key_pem).ok());
}

// The positive case (a CA-issued chain against its root) is in tests/acme (pebble).
TEST(AcmeCertInfo, ChainFromAnotherIssuerDoesNotVerify) {
  Result<PemPair> b = MakeTlsAlpnCertificate("b.test", "1.2");
  ASSERT_TRUE(b.ok());
  Status st = VerifyCertificateChain(MakeCert(true), b->certificate_pem);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("does not verify"), std::string::npos) << st.message();
  EXPECT_FALSE(VerifyCertificateChain("garbage", b->certificate_pem).ok());
}

}  // namespace
}  // namespace gravity::acme
