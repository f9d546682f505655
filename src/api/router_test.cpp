#include "api/router.h"

#include <gtest/gtest.h>

#include "api/server.h"

namespace gravity::api {
namespace {

Router MakeRouter() {
  Router r;
  r.SetToken("t0k3n-abcdefghijklmnopqrstuvwxyz012345");
  r.Add("GET", "/v1/runs/:id", [](const Request& req) {
    return Response::Json(200, {{"id", req.Param("id")}, {"q", req.Query("x")}});
  });
  r.Add("POST", "/v1/runs/:id", [](const Request&) { return Response::Json(200, {}); });
  r.Add(
      "POST", "/hooks/:app", [](const Request&) { return Response::Json(200, {}); }, Auth::kNone);
  r.Add("GET", "/v1/boom", [](const Request&) -> Response { throw std::runtime_error("bad"); });
  return r;
}

Request Req(std::string method, std::string target, std::string auth = "") {
  Request r;
  r.method = std::move(method);
  r.target = std::move(target);
  if (!auth.empty()) r.headers["authorization"] = auth;
  return r;
}

TEST(Router, MatchesPatternsAndDecodesQueries) {
  Router r = MakeRouter();
  Response res = r.Handle(Req("GET", "/v1/runs/42?x=a%20b+c"));
  EXPECT_EQ(res.status, 200);
  auto j = nlohmann::json::parse(res.body);
  EXPECT_EQ(j["id"], "42");
  EXPECT_EQ(j["q"], "a b c");
  EXPECT_EQ(r.Handle(Req("GET", "/v1/runs")).status, 404);
  EXPECT_EQ(r.Handle(Req("DELETE", "/v1/runs/1")).status, 405);
  EXPECT_EQ(r.Handle(Req("GET", "/v1/runs/1?x=%zz")).status, 400);
  EXPECT_EQ(r.Handle(Req("GET", "/v1/boom")).status, 500);
}

TEST(Router, BytesThatAreNotUtf8StillGiveAJsonAnswer) {
  // "%FF" decodes to a byte that is not UTF-8; the 404 names the path. The answer must be
  // valid JSON (the byte replaced), not an exception out of the connection's thread.
  Router r = MakeRouter();
  Response res = r.Handle(Req("GET", "/%FF%C3"));
  EXPECT_EQ(res.status, 404);
  auto j = nlohmann::json::parse(res.body, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << res.body;
  EXPECT_EQ(j["error"], "no such endpoint: /\xEF\xBF\xBD\xEF\xBF\xBD");  // U+FFFD twice
}

TEST(Router, MutatingCallsNeedTheBearerToken) {
  Router r = MakeRouter();
  EXPECT_EQ(r.Handle(Req("POST", "/v1/runs/1")).status, 401);
  EXPECT_EQ(r.Handle(Req("POST", "/v1/runs/1", "Bearer wrong")).status, 401);
  EXPECT_EQ(
      r.Handle(Req("POST", "/v1/runs/1", "Bearer t0k3n-abcdefghijklmnopqrstuvwxyz012345")).status,
      200);
  EXPECT_EQ(r.Handle(Req("POST", "/hooks/site")).status, 200);  // signed instead
}

TEST(Router, BeyondLoopbackReadsNeedTheTokenToo) {
  Router r = MakeRouter();
  EXPECT_EQ(r.Handle(Req("GET", "/v1/runs/1")).status, 200);  // loopback: reads are open
  r.RequireTokenForReads(true);
  Response anon = r.Handle(Req("GET", "/v1/runs/1"));
  EXPECT_EQ(anon.status, 401);
  EXPECT_EQ(anon.body.find("\"id\""), std::string::npos) << anon.body;  // nothing leaks
  EXPECT_EQ(r.Handle(Req("GET", "/v1/runs/1", "Bearer wrong")).status, 401);
  EXPECT_EQ(r.Handle(Req("GET", "/v1/boom", "Bearer nope")).status, 401);
  EXPECT_EQ(
      r.Handle(Req("GET", "/v1/runs/1", "Bearer t0k3n-abcdefghijklmnopqrstuvwxyz012345")).status,
      200);
  EXPECT_EQ(r.Handle(Req("POST", "/v1/runs/1")).status, 401);
  EXPECT_EQ(r.Handle(Req("POST", "/hooks/site")).status, 200);  // signed instead
}

TEST(Router, OnLoopbackOnlyLoopbackHostsAreAnswered) {
  Router r = MakeRouter();
  r.RequireLoopbackHost(true);
  auto with_host = [&](const std::string& host) {
    Request req = Req("GET", "/v1/runs/1");
    req.headers["host"] = host;
    return r.Handle(req).status;
  };
  for (const char* ok : {"127.0.0.1:7070", "127.0.0.1", "localhost:7070", "[::1]:7070", "[::1]",
                         "127.1.2.3:80", "", "LOCALHOST:7070", "localhost.:7070"}) {
    EXPECT_EQ(with_host(ok), 200) << ok;
  }
  // A page that rebound its own name to 127.0.0.1 still sends that name.
  for (const char* bad : {"evil.example:7070", "evil.example", "127.0.0.1.evil.example:7070",
                          "0.0.0.0:7070", "[::]:7070", "localhost.evil:7070"}) {
    EXPECT_EQ(with_host(bad), 421) << bad;
  }
  // Signed webhooks are judged by their signature, whatever name a tunnel kept.
  Request hook = Req("POST", "/hooks/site");
  hook.headers["host"] = "ci.example.com";
  EXPECT_EQ(r.Handle(hook).status, 200);
}

TEST(HttpServer, ServesTheRouterAndCapsBodies) {
  Router r = MakeRouter();
  r.Add(
      "POST", "/echo",
      [](const Request& req) {
        return Response::Json(200, {{"size", req.body.size()}});
      },
      Auth::kNone);
  ServerOptions o;
  o.max_body_bytes = 1000;
  HttpServer server(r, o);
  ASSERT_TRUE(server.Start().ok());
  std::string addr = "127.0.0.1:" + std::to_string(server.port());
  auto res = HttpCall(addr, "GET", "/v1/runs/7");
  ASSERT_TRUE(res.ok()) << res.error();
  EXPECT_EQ(res->status, 200);
  EXPECT_NE(res->body.find("\"7\""), std::string::npos);
  auto ok = HttpCall(addr, "POST", "/echo", std::string(1000, 'x'));
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(ok->body, "{\"size\":1000}\n");
  auto big = HttpCall(addr, "POST", "/echo", std::string(200000, 'x'));
  ASSERT_TRUE(big.ok()) << big.error();
  EXPECT_EQ(big->status, 413);
  server.Stop();
  EXPECT_FALSE(HttpCall(addr, "GET", "/v1/runs/7").ok());
}

}  // namespace
}  // namespace gravity::api
