#include "acme/cert_info.h"

#include <openssl/bn.h>
#include <openssl/pem.h>

#include <ctime>

#include "acme/openssl_util.h"

namespace gravity::acme {

using internal::OpenSslError;
using internal::Owned;

namespace {

// Every certificate in a PEM text, in order.
Result<std::vector<Owned<X509>>> ParseChain(const std::string& pem) {
  internal::ClearOpenSslErrors();
  Owned<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  std::vector<Owned<X509>> certs;
  while (X509* c = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) certs.emplace_back(c);
  internal::ClearOpenSslErrors();  // the end of input is reported as an error
  if (certs.empty()) return Status::InvalidArgument("no PEM certificate in the input");
  return certs;
}

Result<std::chrono::system_clock::time_point> TimeOf(const ASN1_TIME* t) {
  std::tm tm{};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1)
    return OpenSslError("certificate has an unreadable validity time");
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

std::string CommonName(X509_NAME* name) {
  int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (i < 0) return "";
  unsigned char* utf8 = nullptr;
  int len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
  if (len < 0) return "";
  std::string out(reinterpret_cast<char*>(utf8), static_cast<std::size_t>(len));
  OPENSSL_free(utf8);
  return out;
}

std::string OneLine(X509_NAME* name) {
  Owned<BIO> bio(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_ONELINE);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(std::max(0L, n)));
}

std::vector<std::string> DnsNames(X509* cert) {
  std::vector<std::string> out;
  Owned<GENERAL_NAMES> sans(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  for (int i = 0; sans && i < sk_GENERAL_NAME_num(sans.get()); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(sans.get(), i);
    if (gn->type != GEN_DNS) continue;
    const ASN1_STRING* s = gn->d.dNSName;
    out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<std::size_t>(ASN1_STRING_length(s)));
  }
  return out;
}

std::string Serial(X509* cert) {
  Owned<BIGNUM> bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr));
  if (!bn) return "";
  char* hex = BN_bn2hex(bn.get());
  std::string out = hex != nullptr ? hex : "";
  OPENSSL_free(hex);
  return out;
}

}  // namespace

Result<CertificateInfo> InspectCertificate(const std::string& chain_pem) {
  ASSIGN_OR_RETURN(std::vector<Owned<X509>> chain, ParseChain(chain_pem));
  X509* cert = chain.front().get();
  CertificateInfo info;
  info.subject_cn = CommonName(X509_get_subject_name(cert));
  info.dns_names = DnsNames(cert);
  info.issuer = CommonName(X509_get_issuer_name(cert));
  if (info.issuer.empty()) info.issuer = OneLine(X509_get_issuer_name(cert));
  ASSIGN_OR_RETURN(info.not_before, TimeOf(X509_get0_notBefore(cert)));
  ASSIGN_OR_RETURN(info.not_after, TimeOf(X509_get0_notAfter(cert)));
  info.serial = Serial(cert);
  return info;
}

Status KeyMatchesCertificate(const std::string& chain_pem, const std::string& key_pem) {
  ASSIGN_OR_RETURN(std::vector<Owned<X509>> chain, ParseChain(chain_pem));
  Result<Owned<EVP_PKEY>> key = internal::ParsePrivateKeyPem(key_pem);
  if (!key.ok()) return Status::InvalidArgument(key.error());
  if (X509_check_private_key(chain.front().get(), key->get()) != 1) {
    internal::ClearOpenSslErrors();
    return Status::InvalidArgument("the private key does not match the certificate");
  }
  return Status::Ok();
}

Status VerifyCertificateChain(const std::string& chain_pem, const std::string& trusted_pem) {
  ASSIGN_OR_RETURN(std::vector<Owned<X509>> chain, ParseChain(chain_pem));
  ASSIGN_OR_RETURN(std::vector<Owned<X509>> trusted, ParseChain(trusted_pem));
  Owned<X509_STORE> store(X509_STORE_new());
  for (auto& t : trusted) X509_STORE_add_cert(store.get(), t.get());
  STACK_OF(X509)* untrusted = sk_X509_new_null();
  for (std::size_t i = 1; i < chain.size(); ++i) sk_X509_push(untrusted, chain[i].get());
  Owned<X509_STORE_CTX> ctx(X509_STORE_CTX_new());
  int ok = ctx && X509_STORE_CTX_init(ctx.get(), store.get(), chain.front().get(), untrusted)
               ? X509_verify_cert(ctx.get())
               : -1;
  int err = ctx ? X509_STORE_CTX_get_error(ctx.get()) : X509_V_ERR_UNSPECIFIED;
  sk_X509_free(untrusted);  // the stack only: `chain` owns the certificates
  internal::ClearOpenSslErrors();
  if (ok != 1)
    return Status::InvalidArgument(std::string("certificate chain does not verify: ") +
                                   X509_verify_cert_error_string(err));
  return Status::Ok();
}

}  // namespace gravity::acme
