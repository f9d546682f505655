#include "acme/csr.h"

#include "acme/openssl_util.h"

namespace gravity::acme {

using internal::OpenSslError;
using internal::Owned;

namespace {

Status AddSan(X509_REQ* req, const std::vector<std::string>& names) {
  ASSIGN_OR_RETURN(Owned<X509_EXTENSION> san, internal::DnsSanExtension(names));
  STACK_OF(X509_EXTENSION)* exts = sk_X509_EXTENSION_new_null();
  if (exts == nullptr) return OpenSslError("making CSR extensions");
  sk_X509_EXTENSION_push(exts, san.get());
  int ok = X509_REQ_add_extensions(req, exts);
  sk_X509_EXTENSION_free(exts);  // the stack only: `san` still owns the extension
  if (ok != 1) return OpenSslError("adding subjectAltName to the CSR");
  return Status::Ok();
}

}  // namespace

Result<CertificateRequest> MakeCertificateRequest(const std::vector<std::string>& names) {
  if (names.empty()) return Status::InvalidArgument("a certificate needs at least one name");
  ASSIGN_OR_RETURN(Owned<EVP_PKEY> key, internal::GenerateP256Key());
  Owned<X509_REQ> req(X509_REQ_new());
  if (!req || X509_REQ_set_version(req.get(), 0) != 1 ||
      X509_REQ_set_pubkey(req.get(), key.get()) != 1)
    return OpenSslError("making a CSR");
  // CN is limited to 64 characters (RFC 5280 ub-common-name); the SAN carries every name.
  if (names.front().size() <= 64)
    RETURN_IF_ERROR(internal::SetCommonName(X509_REQ_get_subject_name(req.get()), names.front()));
  RETURN_IF_ERROR(AddSan(req.get(), names));
  if (X509_REQ_sign(req.get(), key.get(), EVP_sha256()) <= 0)
    return OpenSslError("signing the CSR");
  int len = i2d_X509_REQ(req.get(), nullptr);
  if (len <= 0) return OpenSslError("encoding the CSR");
  std::string der(static_cast<std::size_t>(len), '\0');
  auto* p = reinterpret_cast<unsigned char*>(der.data());
  i2d_X509_REQ(req.get(), &p);
  ASSIGN_OR_RETURN(std::string key_pem, internal::PrivateKeyPem(key.get()));
  return CertificateRequest{std::move(der), std::move(key_pem)};
}

}  // namespace gravity::acme
