#include "support/tls_certs.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <fstream>
#include <stdexcept>

namespace gravity::test {

namespace {

EVP_PKEY* NewKey(KeyType type) {
  return type == KeyType::kRsa2048 ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256");
}

std::string KeyPem(EVP_PKEY* key) {
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long n = BIO_get_mem_data(b, &data);
  std::string out(data, static_cast<std::size_t>(n));
  BIO_free(b);
  return out;
}

std::string CertPem(X509* cert) {
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(b, cert);
  char* data = nullptr;
  long n = BIO_get_mem_data(b, &data);
  std::string out(data, static_cast<std::size_t>(n));
  BIO_free(b);
  return out;
}

void AddExt(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (!ext) throw std::runtime_error("test cert: bad extension " + value);
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

X509* NewCert(const std::string& cn, EVP_PKEY* key, long serial, std::chrono::seconds lifetime) {
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), serial);
  X509_gmtime_adj(X509_getm_notBefore(cert), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert), static_cast<long>(lifetime.count()));
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  return cert;
}

void Write(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

}  // namespace

CertFactory::CertFactory(std::string dir, const std::string& ca_name) : dir_(std::move(dir)) {
  EVP_PKEY* key = NewKey(KeyType::kEcdsaP256);
  X509* ca = NewCert(ca_name, key, serial_++, std::chrono::hours(24 * 30));
  X509_set_issuer_name(ca, X509_get_subject_name(ca));
  AddExt(ca, ca, NID_basic_constraints, "critical,CA:TRUE");
  AddExt(ca, ca, NID_key_usage, "critical,keyCertSign,cRLSign");
  X509_sign(ca, key, EVP_sha256());
  ca_key_ = key;
  ca_cert_ = ca;
  ca_pem_ = CertPem(ca);
  ca_file_ = dir_ + "/ca.pem";
  Write(ca_file_, ca_pem_);
}

CertFactory::~CertFactory() {
  X509_free(static_cast<X509*>(ca_cert_));
  EVP_PKEY_free(static_cast<EVP_PKEY*>(ca_key_));
}

TestCert CertFactory::Issue(const std::vector<std::string>& names, const std::string& file_stem,
                            KeyType type, std::chrono::seconds lifetime) {
  auto* ca = static_cast<X509*>(ca_cert_);
  EVP_PKEY* key = NewKey(type);
  X509* cert = NewCert(names.empty() ? "localhost" : names[0], key, serial_++, lifetime);
  X509_set_issuer_name(cert, X509_get_subject_name(ca));
  std::string san;
  for (const auto& n : names) san += (san.empty() ? "DNS:" : ",DNS:") + n;
  if (!san.empty()) AddExt(cert, ca, NID_subject_alt_name, san);
  AddExt(cert, ca, NID_basic_constraints, "critical,CA:FALSE");
  AddExt(cert, ca, NID_ext_key_usage, "serverAuth");
  X509_sign(cert, static_cast<EVP_PKEY*>(ca_key_), EVP_sha256());
  TestCert out;
  out.chain_pem = CertPem(cert) + ca_pem_;
  out.key_pem = KeyPem(key);
  out.chain_file = dir_ + "/" + file_stem + ".pem";
  out.key_file = dir_ + "/" + file_stem + ".key";
  Write(out.chain_file, out.chain_pem);
  Write(out.key_file, out.key_pem);
  X509_free(cert);
  EVP_PKEY_free(key);
  return out;
}

}  // namespace gravity::test
