#include "proxy/tls.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "common/clock.h"
#include "proxy/control_client.h"
#include "proxy/forwarding.h"

namespace gravity::proxy {
namespace {

// A self-signed certificate for `names` (first = CN), PEM chain + key.
std::pair<std::string, std::string> SelfSigned(const std::vector<std::string>& names) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 7);
  X509_gmtime_adj(X509_getm_notBefore(cert), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
  X509_set_pubkey(cert, key);
  X509_NAME* n = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(names[0].c_str()), -1, -1, 0);
  X509_set_issuer_name(cert, n);
  std::string san;
  for (const auto& name : names) san += (san.empty() ? "DNS:" : ",DNS:") + name;
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, san.c_str());
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  X509_sign(cert, key, EVP_sha256());
  auto pem = [](auto write) {
    BIO* b = BIO_new(BIO_s_mem());
    write(b);
    char* d = nullptr;
    long len = BIO_get_mem_data(b, &d);
    std::string out(d, static_cast<std::size_t>(len));
    BIO_free(b);
    return out;
  };
  std::string c = pem([&](BIO* b) { PEM_write_bio_X509(b, cert); });
  std::string k = pem([&](BIO* b) { PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr); });
  X509_free(cert);
  EVP_PKEY_free(key);
  return {c, k};
}

TEST(TlsHostName, AcceptsNamesAndRefusesEverythingElse) {
  std::string out;
  EXPECT_TRUE(NormalizeHostName("App.Example.COM", false, &out));
  EXPECT_EQ(out, "app.example.com");
  EXPECT_TRUE(NormalizeHostName("example.com.", false, &out));  // the root label
  EXPECT_EQ(out, "example.com");
  EXPECT_TRUE(NormalizeHostName("*.example.com", true, &out));
  EXPECT_EQ(out, "*.example.com");
  EXPECT_FALSE(NormalizeHostName("*.example.com", false, &out));
  for (std::string bad : std::vector<std::string>{"", ".", "a..b", ".a", "a b", "a\r\nb", "a/b", "a:443", "*", "a.*.b",
                          std::string(254, 'a'), std::string(64, 'a') + ".com",
                          std::string("a\0b", 3), "\xc3\xa9.com"}) {
    EXPECT_FALSE(NormalizeHostName(bad, true, &out)) << bad;
  }
}

TEST(TlsStore, ServesByHostAndCertificateNamesAndRefusesBadInput) {
  TlsStore store(Clock::Real());
  auto [cert, key] = SelfSigned({"app.test", "www.app.test", "*.img.app.test"});
  ASSERT_TRUE(store.Put("app.test", cert, key, "file", false).ok());
  EXPECT_TRUE(store.Covers("app.test"));
  EXPECT_TRUE(store.Covers("WWW.app.test"));
  EXPECT_TRUE(store.Covers("a.img.app.test"));
  EXPECT_FALSE(store.Covers("a.b.img.app.test"));
  EXPECT_FALSE(store.Covers("other.test"));
  auto list = store.List();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].host, "app.test");
  EXPECT_EQ(list[0].names.size(), 3u);
  EXPECT_EQ(list[0].issuer, "app.test");
  EXPECT_GT(list[0].not_after, list[0].not_before);

  auto [other_cert, other_key] = SelfSigned({"other.test"});
  Status mismatch = store.Put("other.test", other_cert, key, "file", false);
  EXPECT_NE(mismatch.message().find("does not match"), std::string::npos) << mismatch.message();
  EXPECT_FALSE(store.Put("other.test", "garbage", other_key, "file", false).ok());
  EXPECT_FALSE(store.Put("bad host", other_cert, other_key, "file", false).ok());
  EXPECT_FALSE(store.Put("other.test", other_cert, other_key, "Bad Source", false).ok());
  EXPECT_FALSE(store.Covers("other.test"));  // nothing changed
  EXPECT_TRUE(store.Remove("app.test"));
  EXPECT_FALSE(store.Remove("app.test"));
  EXPECT_FALSE(store.Covers("app.test"));
}

TEST(TlsStore, KeepsHttpChallengesByToken) {
  TlsStore store(Clock::Real());
  store.PutHttpChallenge("tok", "tok.thumb");
  EXPECT_EQ(store.HttpChallenge("tok").value_or(""), "tok.thumb");
  EXPECT_FALSE(store.HttpChallenge("other"));
  store.RemoveHttpChallenge("tok");
  EXPECT_FALSE(store.HttpChallenge("tok"));
}

TEST(TlsStore, KeepsTheDefaultWhenItsCertificateIsReplaced) {
  TlsStore store(Clock::Real());
  auto [cert, key] = SelfSigned({"app.test"});
  ASSERT_TRUE(store.Put("app.test", cert, key, "manual", true).ok());
  ASSERT_TRUE(store.Put("app.test", cert, key, "acme", false).ok());  // a renewal
  auto list = store.List();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_TRUE(list[0].is_default);
}

TEST(ControlClientPaths, RefuseBytesThatWouldSplitTheRequestLine) {
  ControlClient client("/nonexistent/proxy.sock", std::chrono::seconds(1));
  for (std::string bad : {std::string("tok\r\nPUT /x"), std::string("a b"), std::string("a\x7f")}) {
    auto r = client.Call("PUT", "/v1/tls/challenges/http/" + bad);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().find("control byte"), std::string::npos) << r.error();
  }
}

TEST(Forwarding, RedirectAndHostWithoutPort) {
  EXPECT_EQ(HostWithoutPort("example.com:8080"), "example.com");
  EXPECT_EQ(HostWithoutPort("example.com"), "example.com");
  EXPECT_EQ(HostWithoutPort("[::1]:80"), "[::1]");
  std::string out;
  AppendRedirectResponse("https://a.test/x?y", true, false, &out);
  EXPECT_EQ(out.rfind("HTTP/1.1 308 Permanent Redirect\r\nLocation: https://a.test/x?y\r\n", 0), 0u)
      << out;
  EXPECT_EQ(out.find("Connection: close"), std::string::npos);
  out.clear();
  AppendRedirectResponse("https://a.test/", false, true, &out);
  EXPECT_NE(out.find("Connection: close\r\n\r\n"), std::string::npos);
  EXPECT_EQ(out.substr(out.size() - 4), "\r\n\r\n");  // HEAD: no body
  out.clear();
  AppendTextResponse("tok.thumb", true, false, &out);
  EXPECT_NE(out.find("Content-Length: 9\r\n\r\ntok.thumb"), std::string::npos) << out;
}

}  // namespace
}  // namespace gravity::proxy
