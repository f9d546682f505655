#include "acme/account_key.h"

#include <gtest/gtest.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <vector>

#include "acme/base64url.h"
#include "support/temp_dir.h"

namespace gravity::acme {
namespace {

// RFC 7638 §3.1: the RSA key of RFC 7517 Appendix A.1 and its published thumbprint.
constexpr char kRfc7638N[] =
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJE"
    "CPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2Q"
    "vzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6"
    "WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";

TEST(AcmeAccountKey, ThumbprintMatchesRfc7638Example) {
  // Canonical form: the required members e, kty, n in lexicographic order, no whitespace.
  std::string canonical = std::string(R"({"e":"AQAB","kty":"RSA","n":")") + kRfc7638N + "\"}";
  EXPECT_EQ(JwkThumbprint(canonical), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
}

TEST(AcmeAccountKey, JwkIsCanonicalP256) {
  Result<AccountKey> key = AccountKey::Generate();
  ASSERT_TRUE(key.ok()) << key.error();
  std::string jwk = key->JwkJson();
  EXPECT_EQ(jwk.rfind(R"({"crv":"P-256","kty":"EC","x":")", 0), 0u) << jwk;
  auto doc = nlohmann::json::parse(jwk);
  EXPECT_EQ(doc.size(), 4u);
  EXPECT_EQ(Base64UrlDecode(doc["x"].get<std::string>())->size(), 32u);
  EXPECT_EQ(Base64UrlDecode(doc["y"].get<std::string>())->size(), 32u);
  EXPECT_EQ(doc.dump(), jwk);  // nlohmann sorts keys and adds no whitespace: same bytes
  EXPECT_EQ(key->Thumbprint(), JwkThumbprint(jwk));
  EXPECT_EQ(key->KeyAuthorization("tok"), "tok." + key->Thumbprint());
}

// Verifies a raw r||s ES256 signature with OpenSSL against the key's public PEM.
bool VerifyEs256(const std::string& public_pem, const std::string& data,
                 const std::string& raw_sig) {
  if (raw_sig.size() != 64) return false;
  BIO* bio = BIO_new_mem_buf(public_pem.data(), static_cast<int>(public_pem.size()));
  EVP_PKEY* pub = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  ECDSA_SIG* sig = ECDSA_SIG_new();
  auto* p = reinterpret_cast<const unsigned char*>(raw_sig.data());
  ECDSA_SIG_set0(sig, BN_bin2bn(p, 32, nullptr), BN_bin2bn(p + 32, 32, nullptr));
  unsigned char* der = nullptr;
  int der_len = i2d_ECDSA_SIG(sig, &der);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = pub != nullptr && EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, pub) == 1 &&
            EVP_DigestVerify(ctx, der, static_cast<size_t>(der_len),
                             reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
  EVP_MD_CTX_free(ctx);
  OPENSSL_free(der);
  ECDSA_SIG_free(sig);
  EVP_PKEY_free(pub);
  return ok;
}

TEST(AcmeAccountKey, JwsWithEmbeddedJwkVerifiesWithOpenSsl) {
  Result<AccountKey> key = AccountKey::Generate();
  ASSERT_TRUE(key.ok()) << key.error();
  Result<std::string> jws =
      key->SignJws({"https://ca.test/acme/new-acct", "nonce-1", ""}, R"({"a":1})");
  ASSERT_TRUE(jws.ok()) << jws.error();
  auto doc = nlohmann::json::parse(*jws);
  ASSERT_EQ(doc.size(), 3u);
  auto header = nlohmann::json::parse(*Base64UrlDecode(doc["protected"].get<std::string>()));
  EXPECT_EQ(header["alg"], "ES256");
  EXPECT_EQ(header["nonce"], "nonce-1");
  EXPECT_EQ(header["url"], "https://ca.test/acme/new-acct");
  EXPECT_EQ(header["jwk"].dump(), key->JwkJson());
  EXPECT_FALSE(header.contains("kid"));
  EXPECT_EQ(*Base64UrlDecode(doc["payload"].get<std::string>()), R"({"a":1})");
  std::string signature = *Base64UrlDecode(doc["signature"].get<std::string>());
  EXPECT_EQ(signature.size(), 64u);
  std::string input = doc["protected"].get<std::string>() + "." + doc["payload"].get<std::string>();
  EXPECT_TRUE(VerifyEs256(*key->PublicKeyPem(), input, signature));
  EXPECT_FALSE(VerifyEs256(*key->PublicKeyPem(), input + "x", signature));
}

TEST(AcmeAccountKey, JwsWithKidAndEmptyPayloadForPostAsGet) {
  Result<AccountKey> key = AccountKey::Generate();
  ASSERT_TRUE(key.ok()) << key.error();
  Result<std::string> jws = key->SignJws({"https://ca.test/o/1", "n2", "https://ca.test/a/7"}, "");
  ASSERT_TRUE(jws.ok()) << jws.error();
  auto doc = nlohmann::json::parse(*jws);
  auto header = nlohmann::json::parse(*Base64UrlDecode(doc["protected"].get<std::string>()));
  EXPECT_EQ(header["kid"], "https://ca.test/a/7");
  EXPECT_FALSE(header.contains("jwk"));
  EXPECT_EQ(doc["payload"], "");
  EXPECT_TRUE(VerifyEs256(*key->PublicKeyPem(), doc["protected"].get<std::string>() + ".",
                          *Base64UrlDecode(doc["signature"].get<std::string>())));
}

TEST(AcmeAccountKey, CreatesKeyFileOnceWithMode0600) {
  test::TempDir dir("acme-key");
  std::string path = dir.Join("account.key");
  Result<AccountKey> first = AccountKey::LoadOrCreate(path);
  ASSERT_TRUE(first.ok()) << first.error();
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  Result<AccountKey> again = AccountKey::LoadOrCreate(path);
  ASSERT_TRUE(again.ok()) << again.error();
  EXPECT_EQ(again->Thumbprint(), first->Thumbprint());
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(dir.path()))
    files.push_back(e.path().filename().string());
  EXPECT_EQ(files, std::vector<std::string>{"account.key"});  // no temp file left behind
}

TEST(AcmeAccountKey, MissingDirectoryIsAnErrorNamingThePath) {
  test::TempDir dir("acme-key");
  std::string path = dir.Join("no/such/dir/account.key");
  Result<AccountKey> key = AccountKey::LoadOrCreate(path);
  ASSERT_FALSE(key.ok());
  EXPECT_NE(key.error().find(dir.Join("no/such/dir")), std::string::npos) << key.error();
}

TEST(AcmeAccountKey, RefusesGroupOrWorldReadableKeyFile) {
  test::TempDir dir("acme-key");
  std::string path = dir.Join("account.key");
  ASSERT_TRUE(AccountKey::LoadOrCreate(path).ok());
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  Result<AccountKey> key = AccountKey::LoadOrCreate(path);
  ASSERT_FALSE(key.ok());
  EXPECT_NE(key.error().find(path), std::string::npos) << key.error();
  EXPECT_NE(key.error().find("0644"), std::string::npos) << key.error();
}

TEST(AcmeAccountKey, RefusesGarbageAndNonP256Keys) {
  test::TempDir dir("acme-key");
  std::string path = dir.Write("garbage.key", "not a key\n", 0600);
  Result<AccountKey> key = AccountKey::LoadOrCreate(path);
  ASSERT_FALSE(key.ok());
  EXPECT_NE(key.error().find(path), std::string::npos) << key.error();

  EVP_PKEY* p384 = EVP_EC_gen("P-384");
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, p384, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  Result<AccountKey> wrong = AccountKey::FromPem(std::string(data, static_cast<size_t>(n)));
  BIO_free(bio);
  EVP_PKEY_free(p384);
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.error().find("P-256"), std::string::npos) << wrong.error();
}

}  // namespace
}  // namespace gravity::acme
