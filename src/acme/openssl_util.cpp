#include "acme/openssl_util.h"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

namespace gravity::acme::internal {

Status OpenSslError(const std::string& what) {
  std::string reasons;
  unsigned long e;
  while ((e = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    if (!reasons.empty()) reasons += "; ";
    reasons += buf;
  }
  return Status::Error(what + (reasons.empty() ? "" : ": " + reasons));
}

void ClearOpenSslErrors() { ERR_clear_error(); }

Result<Owned<EVP_PKEY>> GenerateP256Key() {
  Owned<EVP_PKEY> key(EVP_EC_gen("P-256"));
  if (!key) return OpenSslError("generating an EC P-256 key");
  return key;
}

namespace {

Result<std::string> BioContents(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  if (n < 0) return Status::Error("reading an OpenSSL memory buffer");
  return std::string(data, static_cast<std::size_t>(n));
}

}  // namespace

Result<std::string> PrivateKeyPem(EVP_PKEY* key) {
  Owned<BIO> bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1)
    return OpenSslError("encoding a private key as PEM");
  return BioContents(bio.get());
}

Result<Owned<EVP_PKEY>> ParsePrivateKeyPem(std::string_view pem) {
  ClearOpenSslErrors();
  Owned<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  Owned<EVP_PKEY> key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) return OpenSslError("not a PEM private key");
  return key;
}

Result<std::string> CertificatePem(X509* cert) {
  Owned<BIO> bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1)
    return OpenSslError("encoding a certificate as PEM");
  return BioContents(bio.get());
}

std::string Sha256(std::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  return std::string(reinterpret_cast<char*>(digest), sizeof(digest));
}

Status SetRandomSerial(X509* cert) {
  // 159 random bits: positive and at most 20 octets, as RFC 5280 §4.1.2.2 asks.
  Owned<BIGNUM> bn(BN_new());
  if (!bn || BN_rand(bn.get(), 159, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
      !BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert)))
    return OpenSslError("making a certificate serial number");
  return Status::Ok();
}

}  // namespace gravity::acme::internal

namespace gravity::acme::internal {

Result<Owned<X509_EXTENSION>> DnsSanExtension(const std::vector<std::string>& names) {
  Owned<GENERAL_NAMES> sans(GENERAL_NAMES_new());
  if (!sans) return OpenSslError("making subjectAltName");
  for (const std::string& n : names) {
    ASN1_IA5STRING* ia5 = ASN1_IA5STRING_new();
    GENERAL_NAME* gn = GENERAL_NAME_new();
    if (ia5 == nullptr || gn == nullptr ||
        ASN1_STRING_set(ia5, n.data(), static_cast<int>(n.size())) != 1) {
      ASN1_IA5STRING_free(ia5);
      GENERAL_NAME_free(gn);
      return OpenSslError("making subjectAltName " + n);
    }
    GENERAL_NAME_set0_value(gn, GEN_DNS, ia5);
    sk_GENERAL_NAME_push(sans.get(), gn);
  }
  Owned<X509_EXTENSION> ext(X509V3_EXT_i2d(NID_subject_alt_name, 0, sans.get()));
  if (!ext) return OpenSslError("encoding subjectAltName");
  return ext;
}

Status SetCommonName(X509_NAME* name, const std::string& common_name) {
  if (X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(common_name.c_str()),
                                 static_cast<int>(common_name.size()), -1, 0) != 1)
    return OpenSslError("setting CN=" + common_name);
  return Status::Ok();
}

}  // namespace gravity::acme::internal
