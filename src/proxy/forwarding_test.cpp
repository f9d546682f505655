#include "proxy/forwarding.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace gravity::proxy {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

struct Parsed {
  explicit Parsed(std::string data) : bytes(std::move(data)) {
    auto r = http1::ParseRequestHead(bytes, http1::Limits{}, &head);
    EXPECT_EQ(r.status, http1::ParseStatus::kComplete) << r.error_reason;
    http1::ParseConnection(head.headers, &conn);
    framing = http1::RequestFraming(head);
  }
  std::string bytes;
  http1::RequestHead head;
  http1::ConnectionInfo conn;
  http1::Framing framing;
};

std::string Upstream(const std::string& request, UpstreamContext ctx = {},
                     UpstreamHead* result = nullptr) {
  Parsed p(request);
  if (ctx.client_ip.empty()) ctx.client_ip = "10.0.0.9";
  if (ctx.request_id.empty()) ctx.request_id = "rid-1";
  if (ctx.target_address.empty()) ctx.target_address = "127.0.0.1:20001";
  std::string out;
  UpstreamHead h = AppendUpstreamRequestHead(p.head, p.conn, p.framing, ctx, &out);
  if (result) *result = h;
  return out;
}

TEST(Forwarding, AddsForwardedFieldsAndKeepsEndToEndOnes) {
  std::string out = Upstream(
      "GET /a?b HTTP/1.1\r\nHost: www.example\r\nAccept: */*\r\nX-Forwarded-For: 1.2.3.4\r\n"
      "X-Forwarded-Proto: https\r\nX-Request-Id: client-chosen\r\n\r\n");
  EXPECT_THAT(out, StartsWith("GET /a?b HTTP/1.1\r\n"));
  EXPECT_THAT(out, HasSubstr("Host: www.example\r\n"));
  EXPECT_THAT(out, HasSubstr("Accept: */*\r\n"));
  EXPECT_THAT(out, HasSubstr("X-Forwarded-For: 1.2.3.4, 10.0.0.9\r\n"));
  EXPECT_THAT(out, HasSubstr("X-Forwarded-Proto: http\r\n"));  // the client's is replaced
  EXPECT_THAT(out, Not(HasSubstr("https")));
  EXPECT_THAT(out, HasSubstr("X-Forwarded-Host: www.example\r\n"));
  EXPECT_THAT(out, HasSubstr("X-Request-Id: rid-1\r\n"));
  EXPECT_THAT(out, Not(HasSubstr("client-chosen")));
  EXPECT_TRUE(out.ends_with("\r\n\r\n"));
}

TEST(Forwarding, TheVerifyStepsCandidateTokenIsNotPassedOn) {
  std::string out = Upstream(
      "GET / HTTP/1.1\r\nHost: h\r\nX-Gravity-Candidate: abcdefghijklmnop0123\r\nX-Kept: 2\r\n\r\n");
  EXPECT_THAT(out, Not(HasSubstr("abcdefghijklmnop0123")));
  EXPECT_THAT(out, Not(HasSubstr("X-Gravity-Candidate")));
  EXPECT_THAT(out, HasSubstr("X-Kept: 2\r\n"));
}

TEST(Forwarding, DropsHopByHopFieldsAndThoseConnectionNames) {
  std::string out = Upstream(
      "GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, X-Secret\r\nKeep-Alive: 5\r\n"
      "X-Secret: 1\r\nTE: trailers\r\nProxy-Connection: x\r\nX-Kept: 2\r\n\r\n");
  EXPECT_THAT(out, Not(HasSubstr("Connection:")));
  EXPECT_THAT(out, Not(HasSubstr("Keep-Alive")));
  EXPECT_THAT(out, Not(HasSubstr("X-Secret")));
  EXPECT_THAT(out, Not(HasSubstr("TE:")));
  EXPECT_THAT(out, HasSubstr("X-Kept: 2\r\n"));
}

TEST(Forwarding, FramingIsRewrittenFromTheParsedLength) {
  EXPECT_THAT(Upstream("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n"),
              HasSubstr("Content-Length: 5\r\n"));
  std::string chunked =
      Upstream("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n");
  EXPECT_THAT(chunked, HasSubstr("Transfer-Encoding: chunked\r\n"));
  EXPECT_THAT(chunked, Not(HasSubstr("Content-Length")));
}

TEST(Forwarding, AbsoluteFormBecomesOriginFormWithTheAuthorityAsHost) {
  std::string out =
      Upstream("GET http://admin.example:8080/x?y HTTP/1.1\r\nHost: www.example\r\n\r\n");
  EXPECT_THAT(out, StartsWith("GET /x?y HTTP/1.1\r\nHost: admin.example:8080\r\n"));
  EXPECT_THAT(out, Not(HasSubstr("www.example")));
  EXPECT_THAT(out, HasSubstr("X-Forwarded-Host: admin.example:8080\r\n"));
  EXPECT_THAT(Upstream("GET http://a.example?q HTTP/1.1\r\nHost: a.example\r\n\r\n"),
              StartsWith("GET /?q HTTP/1.1\r\n"));
  EXPECT_THAT(Upstream("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"), StartsWith("OPTIONS * HTTP/1.1"));
}

TEST(Forwarding, Http10WithoutHostGetsTheTargetAddress) {
  std::string out = Upstream("GET /old HTTP/1.0\r\n\r\n");
  EXPECT_THAT(out, StartsWith("GET /old HTTP/1.1\r\nHost: 127.0.0.1:20001\r\n"));
  EXPECT_THAT(out, Not(HasSubstr("X-Forwarded-Host")));
}

TEST(Forwarding, ExpectContinueIsAnsweredByTheProxyAndOnlyForHttp11) {
  UpstreamHead h;
  std::string out = Upstream(
      "POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n", {}, &h);
  EXPECT_TRUE(h.expect_continue);
  EXPECT_THAT(out, Not(HasSubstr("Expect")));
  Upstream("POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n", {}, &h);
  EXPECT_FALSE(h.expect_continue);
}

TEST(Forwarding, UpgradeIsPassedOnOnlyWhenAsked) {
  const std::string ws =
      "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n";
  UpstreamContext ctx;
  ctx.upgrade = true;
  EXPECT_THAT(Upstream(ws, ctx), HasSubstr("Connection: Upgrade\r\nUpgrade: websocket\r\n"));
  EXPECT_THAT(Upstream(ws), Not(HasSubstr("Upgrade")));
}

TEST(Forwarding, RequestIdIsTheClientsWhenUsable) {
  std::string id;
  Parsed ok("GET / HTTP/1.1\r\nHost: h\r\nX-Request-Id: abc\r\n\r\n");
  ChooseRequestId(ok.head, 1, 2, &id);
  EXPECT_EQ(id, "abc");
  Parsed too_long("GET / HTTP/1.1\r\nHost: h\r\nX-Request-Id: " + std::string(200, 'a') +
                  "\r\n\r\n");
  ChooseRequestId(too_long.head, 1, 2, &id);
  EXPECT_EQ(id, "00000000000000010000000000000002");
}

TEST(Forwarding, HostAndRoutePath) {
  EXPECT_EQ(RequestHost(Parsed("GET / HTTP/1.1\r\nHost: a.example\r\n\r\n").head), "a.example");
  EXPECT_EQ(RequestHost(Parsed("GET http://b.example/ HTTP/1.1\r\nHost: a\r\n\r\n").head),
            "b.example");
  EXPECT_EQ(RequestHost(Parsed("GET / HTTP/1.0\r\n\r\n").head), "");
  EXPECT_EQ(RoutePath(Parsed("GET /api/x HTTP/1.1\r\nHost: a\r\n\r\n").head), "/api/x");
  EXPECT_EQ(RoutePath(Parsed("GET http://b.example HTTP/1.1\r\nHost: a\r\n\r\n").head), "/");
  EXPECT_EQ(RoutePath(Parsed("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n").head), "/");
}

std::string Downstream(const std::string& response, DownstreamContext ctx,
                       std::string_view method = "GET") {
  http1::ResponseHead resp;
  auto r = http1::ParseResponseHead(response, http1::Limits{}, &resp);
  EXPECT_EQ(r.status, http1::ParseStatus::kComplete) << r.error_reason;
  http1::ConnectionInfo conn;
  http1::ParseConnection(resp.headers, &conn);
  std::string out;
  AppendDownstreamResponseHead(resp, conn, http1::ResponseFraming(resp, method), ctx, &out);
  return out;
}

TEST(Forwarding, ResponseHeadKeepsEndToEndFieldsAndStatesTheConnection) {
  DownstreamContext keep;
  std::string out = Downstream(
      "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close, X-Hop\r\nX-Hop: 1\r\n"
      "Keep-Alive: timeout=5\r\nX-App: yes\r\n\r\n",
      keep);
  EXPECT_THAT(out, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(out, HasSubstr("Content-Length: 3\r\n"));
  EXPECT_THAT(out, HasSubstr("X-App: yes\r\n"));
  EXPECT_THAT(out, Not(HasSubstr("X-Hop")));
  EXPECT_THAT(out, Not(HasSubstr("Connection")));  // the client connection stays open
  DownstreamContext close;
  close.keep_alive = false;
  EXPECT_THAT(Downstream("HTTP/1.1 204 No Content\r\n\r\n", close),
              HasSubstr("Connection: close\r\n"));
  DownstreamContext old;
  old.client_minor = 0;
  EXPECT_THAT(Downstream("HTTP/1.1 204 No Content\r\n\r\n", old),
              HasSubstr("Connection: keep-alive\r\n"));
}

TEST(Forwarding, ResponseCodingsArePassedOnAsReceived) {
  DownstreamContext ctx;
  EXPECT_THAT(Downstream("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", ctx),
              HasSubstr("Transfer-Encoding: gzip, chunked\r\n"));
  ctx.keep_alive = false;
  EXPECT_THAT(Downstream("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, deflate\r\n\r\n", ctx),
              HasSubstr("Transfer-Encoding: chunked, deflate\r\n"));
}

TEST(Forwarding, CanaryCookieAndReasonPhrase) {
  DownstreamContext ctx;
  ctx.set_cookie_bucket = 7;
  std::string out = Downstream("HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n", ctx);
  EXPECT_THAT(out, StartsWith("HTTP/1.1 404 Not Found\r\n"));
  EXPECT_THAT(out, HasSubstr("Set-Cookie: gravity_bucket=7; Path=/;"));
}

TEST(Forwarding, HstsIsAddedUnlessTheAppSentItsOwn) {
  DownstreamContext ctx;
  ctx.hsts = "max-age=86400";
  EXPECT_THAT(Downstream("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", ctx),
              HasSubstr("Strict-Transport-Security: max-age=86400\r\n"));
  std::string own = Downstream(
      "HTTP/1.1 200 OK\r\nstrict-transport-security: max-age=5\r\nContent-Length: 0\r\n\r\n", ctx);
  EXPECT_THAT(own, HasSubstr("strict-transport-security: max-age=5\r\n"));
  EXPECT_THAT(own, Not(HasSubstr("max-age=86400")));
  DownstreamContext plain;  // no hsts: nothing added
  EXPECT_THAT(Downstream("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", plain),
              Not(HasSubstr("Strict-Transport-Security")));
}

TEST(Forwarding, ErrorPagesSayWhyAndCloseUnlessKept) {
  std::string out;
  AppendErrorResponse(502, "target 127.0.0.1:1: connection refused", false, false, &out);
  EXPECT_THAT(out, StartsWith("HTTP/1.1 502 Bad Gateway\r\n"));
  EXPECT_THAT(out, HasSubstr("Connection: close\r\n"));
  EXPECT_TRUE(out.ends_with("connection refused\n"));
  out.clear();
  AppendErrorResponse(404, "no route", true, true, &out);
  EXPECT_THAT(out, Not(HasSubstr("Connection")));
  EXPECT_TRUE(out.ends_with("\r\n\r\n"));  // HEAD: no body
  EXPECT_THAT(out, HasSubstr("Content-Length: 23\r\n"));
}

}  // namespace
}  // namespace gravity::proxy
