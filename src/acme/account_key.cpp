#include "acme/account_key.h"

#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "acme/base64url.h"
#include "acme/openssl_util.h"
#include "common/fs.h"

namespace gravity::acme {

using internal::OpenSslError;
using internal::Owned;

namespace {

std::shared_ptr<EVP_PKEY> Share(Owned<EVP_PKEY> key) {
  return std::shared_ptr<EVP_PKEY>(key.release(), EVP_PKEY_free);
}

// The big-endian value of one EC coordinate, left-padded to the 32 bytes of P-256.
Result<std::string> Coordinate(EVP_PKEY* key, const char* name) {
  BIGNUM* raw = nullptr;
  if (EVP_PKEY_get_bn_param(key, name, &raw) != 1) return OpenSslError("reading the EC key");
  Owned<BIGNUM> bn(raw);
  std::string out(32, '\0');
  if (BN_bn2binpad(bn.get(), reinterpret_cast<unsigned char*>(out.data()), 32) != 32)
    return OpenSslError("EC coordinate does not fit P-256");
  return out;
}

Status CheckIsP256(EVP_PKEY* key) {
  char curve[64] = {0};
  size_t len = 0;
  if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC ||
      EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, curve, sizeof(curve), &len) !=
          1 ||
      std::strcmp(curve, "prime256v1") != 0) {
    internal::ClearOpenSslErrors();
    return Status::InvalidArgument("the key is not an EC P-256 key (ES256 needs one)");
  }
  return Status::Ok();
}

// Writes a new key file that appears complete or not at all and never replaces a key
// another process created meanwhile: a temp file (0600 from its creation), fsync, then
// link(2) to the final name, which fails when that name exists (where rename(2) would
// silently replace the other key), then the directory is synced. kConflict: it existed.
Status CreateKeyFile(const std::string& path, const std::string& pem) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  ::unlink(tmp.c_str());  // a leftover of a crashed attempt of this pid
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    return Status::Error("creating ACME account key " + tmp + ": " + std::strerror(errno));
  bool ok =
      ::write(fd, pem.data(), pem.size()) == static_cast<ssize_t>(pem.size()) && ::fsync(fd) == 0;
  int write_errno = errno;
  ::close(fd);
  int linked = ok ? ::link(tmp.c_str(), path.c_str()) : -1;
  int link_errno = errno;
  ::unlink(tmp.c_str());
  if (!ok)
    return Status::Error("writing ACME account key " + tmp + ": " + std::strerror(write_errno));
  if (linked != 0 && link_errno == EEXIST)
    return Status::Conflict("ACME account key " + path + " was created meanwhile");
  if (linked != 0)
    return Status::Error("creating ACME account key " + path + ": " + std::strerror(link_errno));
  std::string dir = std::filesystem::path(path).parent_path().string();
  int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return Status::Ok();
}

// Refuses a key file whose mode lets group or others read or write it.
Status CheckPrivate(const std::string& path, const struct stat& st) {
  if ((st.st_mode & 077) == 0) return Status::Ok();
  char mode[8];
  std::snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(st.st_mode & 07777));
  return Status::FailedPrecondition("ACME account key " + path +
                                    " is accessible by group or "
                                    "others (mode " +
                                    mode + "); run chmod 600 " + path);
}

Result<AccountKey> LoadFile(const std::string& path, const struct stat& st) {
  RETURN_IF_ERROR(CheckPrivate(path, st));
  ASSIGN_OR_RETURN(std::string pem, ReadFile(path));
  Result<AccountKey> key = AccountKey::FromPem(pem);
  if (!key.ok()) return key.status().Prefixed("ACME account key " + path);
  return key;
}

}  // namespace

AccountKey::AccountKey(std::shared_ptr<EVP_PKEY> key) : key_(std::move(key)) {
  std::string x = Coordinate(key_.get(), OSSL_PKEY_PARAM_EC_PUB_X).value();
  std::string y = Coordinate(key_.get(), OSSL_PKEY_PARAM_EC_PUB_Y).value();
  jwk_json_ = R"({"crv":"P-256","kty":"EC","x":")" + Base64UrlEncode(x) + R"(","y":")" +
              Base64UrlEncode(y) + R"("})";
}

Result<AccountKey> AccountKey::FromPem(std::string_view pem) {
  ASSIGN_OR_RETURN(Owned<EVP_PKEY> key, internal::ParsePrivateKeyPem(pem));
  RETURN_IF_ERROR(CheckIsP256(key.get()));
  // Coordinates of a checked P-256 key always fit: the constructor cannot fail now.
  return AccountKey(Share(std::move(key)));
}

Result<AccountKey> AccountKey::Generate() {
  ASSIGN_OR_RETURN(Owned<EVP_PKEY> key, internal::GenerateP256Key());
  return AccountKey(Share(std::move(key)));
}

Result<AccountKey> AccountKey::LoadOrCreate(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) return LoadFile(path, st);
  if (errno != ENOENT)
    return Status::Error("ACME account key " + path + ": " + std::strerror(errno));
  ASSIGN_OR_RETURN(AccountKey key, Generate());
  ASSIGN_OR_RETURN(std::string pem, key.PrivateKeyPem());
  Status created = CreateKeyFile(path, pem);
  if (created.IsConflict() && ::stat(path.c_str(), &st) == 0) {
    return LoadFile(path, st);  // another process created it first: that key is the account
  }
  if (!created.ok()) return created;
  return key;
}

std::string AccountKey::JwkJson() const { return jwk_json_; }

std::string AccountKey::Thumbprint() const { return JwkThumbprint(jwk_json_); }

std::string AccountKey::KeyAuthorization(std::string_view token) const {
  return std::string(token) + "." + Thumbprint();
}

Result<std::string> AccountKey::PrivateKeyPem() const { return internal::PrivateKeyPem(pkey()); }

Result<std::string> AccountKey::PublicKeyPem() const {
  Owned<BIO> bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), pkey()) != 1)
    return OpenSslError("encoding the public key");
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(n));
}

std::string JwkThumbprint(std::string_view canonical_jwk_json) {
  return Base64UrlEncode(internal::Sha256(canonical_jwk_json));
}

}  // namespace gravity::acme
