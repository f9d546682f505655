#include "acme/tls_alpn.h"

#include <openssl/objects.h>

#include "acme/openssl_util.h"

namespace gravity::acme {

using internal::OpenSslError;
using internal::Owned;

namespace {

// Critical id-pe-acmeIdentifier: extnValue = DER(OCTET STRING(SHA-256(key authorization))).
Result<Owned<X509_EXTENSION>> AcmeIdentifierExtension(const std::string& key_authorization) {
  std::string digest = internal::Sha256(key_authorization);
  Owned<ASN1_OCTET_STRING> inner(ASN1_OCTET_STRING_new());
  if (!inner ||
      ASN1_OCTET_STRING_set(inner.get(), reinterpret_cast<const unsigned char*>(digest.data()),
                            static_cast<int>(digest.size())) != 1)
    return OpenSslError("making the acmeIdentifier value");
  unsigned char* der = nullptr;
  int len = i2d_ASN1_OCTET_STRING(inner.get(), &der);
  if (len <= 0) return OpenSslError("encoding the acmeIdentifier value");
  Owned<ASN1_OCTET_STRING> value(ASN1_OCTET_STRING_new());
  int set = value ? ASN1_OCTET_STRING_set(value.get(), der, len) : 0;
  OPENSSL_free(der);
  Owned<ASN1_OBJECT> oid(OBJ_txt2obj(kAcmeIdentifierOid, /*no_name=*/1));
  if (set != 1 || !oid) return OpenSslError("making the acmeIdentifier extension");
  Owned<X509_EXTENSION> ext(
      X509_EXTENSION_create_by_OBJ(nullptr, oid.get(), /*crit=*/1, value.get()));
  if (!ext) return OpenSslError("making the acmeIdentifier extension");
  return ext;
}

Status AddExtensions(X509* cert, const std::string& domain, const std::string& key_authorization) {
  ASSIGN_OR_RETURN(Owned<X509_EXTENSION> san, internal::DnsSanExtension({domain}));
  ASSIGN_OR_RETURN(Owned<X509_EXTENSION> acme, AcmeIdentifierExtension(key_authorization));
  if (X509_add_ext(cert, san.get(), -1) != 1 || X509_add_ext(cert, acme.get(), -1) != 1)
    return OpenSslError("adding extensions to the tls-alpn-01 certificate");
  return Status::Ok();
}

}  // namespace

Result<PemPair> MakeTlsAlpnCertificate(const std::string& domain,
                                       const std::string& key_authorization) {
  if (domain.empty()) return Status::InvalidArgument("tls-alpn-01 certificate needs a domain");
  ASSIGN_OR_RETURN(Owned<EVP_PKEY> key, internal::GenerateP256Key());
  Owned<X509> cert(X509_new());
  if (!cert || X509_set_version(cert.get(), X509_VERSION_3) != 1)
    return OpenSslError("making the tls-alpn-01 certificate");
  RETURN_IF_ERROR(internal::SetRandomSerial(cert.get()));
  // CN is at most 64 characters; the SAN is what validation looks at.
  if (domain.size() <= 64) {
    RETURN_IF_ERROR(internal::SetCommonName(X509_get_subject_name(cert.get()), domain));
    RETURN_IF_ERROR(internal::SetCommonName(X509_get_issuer_name(cert.get()), domain));
  }
  if (!X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) ||
      !X509_gmtime_adj(X509_getm_notAfter(cert.get()), 7 * 24 * 3600) ||
      X509_set_pubkey(cert.get(), key.get()) != 1)
    return OpenSslError("making the tls-alpn-01 certificate");
  RETURN_IF_ERROR(AddExtensions(cert.get(), domain, key_authorization));
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) <= 0)
    return OpenSslError("signing the tls-alpn-01 certificate");
  ASSIGN_OR_RETURN(std::string cert_pem, internal::CertificatePem(cert.get()));
  ASSIGN_OR_RETURN(std::string key_pem, internal::PrivateKeyPem(key.get()));
  return PemPair{std::move(cert_pem), std::move(key_pem)};
}

}  // namespace gravity::acme
