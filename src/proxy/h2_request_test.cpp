#include "proxy/h2_request.h"

#include <gtest/gtest.h>

namespace gravity::proxy {
namespace {

H2Request Basic() {
  H2Request r;
  EXPECT_EQ(AddH2Field(&r, ":method", "GET"), nullptr);
  EXPECT_EQ(AddH2Field(&r, ":scheme", "https"), nullptr);
  EXPECT_EQ(AddH2Field(&r, ":authority", "app.test"), nullptr);
  EXPECT_EQ(AddH2Field(&r, ":path", "/a?b=1"), nullptr);
  return r;
}

TEST(H2Request, AuthorityBecomesHostAndCookiesAreJoined) {
  H2Request r = Basic();
  ASSERT_EQ(AddH2Field(&r, "cookie", "a=1"), nullptr);
  ASSERT_EQ(AddH2Field(&r, "accept", "*/*"), nullptr);
  ASSERT_EQ(AddH2Field(&r, "cookie", "gravity_bucket=7"), nullptr);
  ASSERT_EQ(AddH2Field(&r, "host", "other.test"), nullptr);
  ASSERT_EQ(FinishH2Request(&r), nullptr);
  const http1::RequestHead& h = r.head;
  EXPECT_EQ(h.method, "GET");
  EXPECT_EQ(h.origin, "/a?b=1");
  ASSERT_NE(h.Find("host"), nullptr);
  EXPECT_EQ(h.Find("host")->value, "app.test");  // :authority wins over Host
  ASSERT_NE(h.Find("cookie"), nullptr);
  EXPECT_EQ(h.Find("cookie")->value, "a=1; gravity_bucket=7");
  int hosts = 0;
  for (const auto& f : h.headers) hosts += http1::EqualsIgnoreCase(f.name, "host");
  EXPECT_EQ(hosts, 1);
}

TEST(H2Request, HostFieldServesWhenAuthorityIsAbsent) {
  H2Request r;
  AddH2Field(&r, ":method", "GET");
  AddH2Field(&r, ":scheme", "https");
  AddH2Field(&r, ":path", "/");
  AddH2Field(&r, "host", "h.test");
  ASSERT_EQ(FinishH2Request(&r), nullptr);
  EXPECT_EQ(r.head.Find("host")->value, "h.test");
}

TEST(H2Request, ConnectionSpecificFieldsAreRefused) {
  for (const char* name : {"connection", "keep-alive", "proxy-connection", "transfer-encoding",
                           "upgrade"}) {
    H2Request r = Basic();
    EXPECT_NE(AddH2Field(&r, name, "x"), nullptr) << name;
  }
  H2Request te = Basic();
  EXPECT_EQ(AddH2Field(&te, "te", "trailers"), nullptr);
  EXPECT_NE(AddH2Field(&te, "te", "gzip"), nullptr);
  ASSERT_EQ(FinishH2Request(&te), nullptr);
  EXPECT_EQ(te.head.Find("te"), nullptr);  // hop-by-hop: not passed on
}

TEST(H2Request, MalformedPseudoHeadersAreRefused) {
  H2Request late = Basic();
  AddH2Field(&late, "accept", "*/*");
  EXPECT_NE(AddH2Field(&late, ":path", "/x"), nullptr);  // after a regular field
  H2Request twice = Basic();
  EXPECT_NE(AddH2Field(&twice, ":path", "/x"), nullptr);
  H2Request unknown = Basic();
  EXPECT_NE(AddH2Field(&unknown, ":protocol", "websocket"), nullptr);
  H2Request upper = Basic();
  EXPECT_NE(AddH2Field(&upper, "Accept", "*/*"), nullptr);
  H2Request no_path;
  AddH2Field(&no_path, ":method", "GET");
  AddH2Field(&no_path, ":scheme", "https");
  EXPECT_NE(FinishH2Request(&no_path), nullptr);
  H2Request bad_path = Basic();
  bad_path.path = "relative";
  EXPECT_NE(FinishH2Request(&bad_path), nullptr);
  H2Request bad_host = Basic();
  bad_host.authority = "a b";
  EXPECT_NE(FinishH2Request(&bad_host), nullptr);
}

TEST(H2Request, FieldBytesAreCountedLikeSettingsMaxHeaderListSize) {
  H2Request r;
  AddH2Field(&r, ":method", "GET");  // 7 + 3 + 32
  AddH2Field(&r, "ab", "cd");        // 2 + 2 + 32
  EXPECT_EQ(r.field_bytes, 42u + 36u);
}

TEST(H2Request, ResponseFieldsAreLowercaseWithoutHopByHop) {
  std::string raw =
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close, X-Secret\r\n"
      "X-Secret: 1\r\nKeep-Alive: timeout=5\r\nTransfer-Encoding: chunked\r\n"
      "Set-Cookie: a=1\r\nX-Instance: one\r\n\r\n";
  http1::ResponseHead resp;
  http1::Limits limits;
  auto pr = http1::ParseResponseHead(raw, limits, &resp, nullptr);
  ASSERT_EQ(pr.status, http1::ParseStatus::kComplete);
  http1::ConnectionInfo ci;
  http1::ParseConnection(resp.headers, &ci);
  std::vector<H2Field> f = H2ResponseFields(resp, ci, 42);
  std::vector<std::string> names;
  for (const auto& x : f) names.push_back(x.name + "=" + x.value);
  EXPECT_EQ(names, (std::vector<std::string>{
                       "content-type=text/plain", "set-cookie=a=1", "x-instance=one",
                       "set-cookie=gravity_bucket=42; Path=/; Max-Age=2592000; HttpOnly"}));
}

TEST(H2Response, HstsIsAddedUnlessTheTargetSentOne) {
  http1::Limits limits;
  http1::ConnectionInfo ci;
  http1::ResponseHead plain;
  ASSERT_EQ(http1::ParseResponseHead("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", limits,
                                     &plain, nullptr).status,
            http1::ParseStatus::kComplete);
  auto f = H2ResponseFields(plain, ci, -1, "max-age=86400");
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(f.back().name, "strict-transport-security");
  EXPECT_EQ(f.back().value, "max-age=86400");
  http1::ResponseHead own;
  ASSERT_EQ(http1::ParseResponseHead(
                "HTTP/1.1 200 OK\r\nStrict-Transport-Security: max-age=5\r\n\r\n", limits, &own,
                nullptr).status,
            http1::ParseStatus::kComplete);
  auto g = H2ResponseFields(own, ci, -1, "max-age=86400");
  ASSERT_EQ(g.size(), 1u);
  EXPECT_EQ(g[0].value, "max-age=5");
}

}  // namespace
}  // namespace gravity::proxy
