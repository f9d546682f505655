// `gravity proxy` with real processes on loopback: deploys under load, drains, hostile
// input, a killed target, restarts.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <thread>

#include "common/fs.h"
#include "proxy/control_client.h"
#include "proxy/proxy_fixture.h"
#include "support/support.h"

namespace gravity::test {
namespace {

using proxy::ControlClient;
using proxy::DeployRequest;
using std::chrono::milliseconds;
using std::chrono::seconds;

TEST_F(ProxyTest, RoutesByHostAndPrefixAndBalancesRoundRobin) {
  StartProxy();
  std::vector<std::unique_ptr<TestApp>> site, api;
  site.push_back(StartApp("s1"));
  site.push_back(StartApp("s2"));
  api.push_back(StartApp("api"));
  Deploy(Request(site));
  DeployRequest ar = Request(api);
  ar.service = "api";
  ar.hosts = {"www.localhost"};
  ar.path_prefix = "/api";
  Deploy(ar);

  HttpClient c("127.0.0.1", port_);
  std::map<std::string, int> seen;
  for (int i = 0; i < 10; ++i) {
    auto r = c.Get("/", "whatever.example");
    ASSERT_TRUE(r.ok()) << r.error();
    EXPECT_EQ(r->status, 200);
    seen[r->Instance()]++;
    EXPECT_FALSE(r->Header("X-Request-Id").has_value());  // only upstream sees it
  }
  EXPECT_EQ(seen["s1"], 5);
  EXPECT_EQ(seen["s2"], 5);
  auto r = c.Get("/api/users", "WWW.localhost:8080");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->Instance(), "api");
  r = c.Get("/apix", "www.localhost");
  ASSERT_TRUE(r.ok());
  EXPECT_NE(r->Instance(), "api");

  // A second service claiming the same host and prefix is refused with 409.
  DeployRequest clash = ar;
  clash.service = "api2";
  auto res = proxy_->client().Deploy(clash);
  ASSERT_FALSE(res.ok());
  EXPECT_THAT(res.error(), ::testing::HasSubstr("both claim host 'www.localhost'"));
}

TEST_F(ProxyTest, ForwardsHeadersAndStreamsChunkedBodies) {
  StartProxy();
  std::vector<std::unique_ptr<TestApp>> apps;
  apps.push_back(StartApp("a"));
  Deploy(Request(apps));
  HttpClient c("127.0.0.1", port_);
  HttpRequest req;
  req.target = "/info";
  req.host = "www.localhost";
  auto r = c.Send(req);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->status, 200);

  // Streaming: the first chunk arrives long before the last one is produced.
  std::vector<LoadGenerator::TimePoint> arrivals;
  HttpRequest s;
  s.target = "/stream?chunks=4&ms=300";
  s.on_body = [&](std::string_view) { arrivals.push_back(LoadGenerator::Now()); };
  auto sr = c.Send(s);
  ASSERT_TRUE(sr.ok()) << sr.error();
  EXPECT_EQ(sr->status, 200);
  EXPECT_TRUE(sr->chunked);
  ASSERT_GE(arrivals.size(), 2u) << "the body came in one piece: it was buffered";
}

TEST_F(ProxyTest, ZeroFailedRequestsAcrossDeploysAndRefusedDeploys) {
  StartProxy({"--workers", "2"});
  std::vector<std::unique_ptr<TestApp>> blue, green;
  blue.push_back(StartApp("blue1"));
  blue.push_back(StartApp("blue2"));
  green.push_back(StartApp("green1"));
  green.push_back(StartApp("green2"));
  auto broken500 = StartApp("broken500", {}, 500);
  auto wrong_body = StartApp("wrongbody", {}, 200, "nothing to see");
  auto hanging = StartApp("hanging");
  Deploy(Request(blue));

  LoadOptions lo;
  lo.port = port_;
  lo.host = "www.localhost";
  lo.connections = 64;
  LoadGenerator load(lo);
  const auto load_start = LoadGenerator::Now();
  load.Start();
  ASSERT_TRUE(load.WaitForRequestsSince(load_start, 200, seconds(30))) << load.Stats().Summary();

  auto names = [](const std::vector<std::unique_ptr<TestApp>>& apps) {
    std::set<std::string> s;
    for (const auto& a : apps) s.insert(a->name());
    return s;
  };
  const std::set<std::string> blue_names = names(blue), green_names = names(green);
  bool on_blue = true;
  int ok_deploys = 0, refused_deploys = 0;
  struct Bad {
    std::string target;
    std::string path;
    std::string body;
    const char* reason;
  };
  const int free_port = FreePort();
  std::vector<Bad> bad = {
      {"127.0.0.1:" + std::to_string(free_port), "/", "", "connection refused"},
      {broken500->address(), "/", "", "status 500 (expected 200)"},
      {wrong_body->address(), "/", "Automation for the people",
       "body lacks 'Automation for the people'"},
      {hanging->address(), "/slow?ms=5000", "", "timed out after 300ms"},
      {green[0]->address(), "/", "", "status 200 (expected 204)"},
  };
  for (int round = 0; round < 25; ++round) {
    if (round % 5 == 4) {
      const Bad& b = bad[refused_deploys];
      DeployRequest r = Request(on_blue ? green : blue);
      r.targets = {b.target};
      r.health.path = b.path;
      if (refused_deploys == 4) r.health.status = 204;
      r.health.body_contains = b.body;
      r.health.timeout = milliseconds(300);
      r.deploy_timeout = milliseconds(1500);
      auto res = proxy_->client().Deploy(r);
      ASSERT_TRUE(res.ok()) << res.error();
      ASSERT_FALSE(res->ok);
      ASSERT_EQ(res->failures.size(), 1u) << res->error;
      EXPECT_EQ(res->failures[0].target, b.target);
      EXPECT_EQ(res->failures[0].reason, b.reason);
      ++refused_deploys;
      // Traffic is still on the previous set.
      auto since = LoadGenerator::Now();
      ASSERT_TRUE(load.WaitForRequestsSince(since, 100, seconds(30)));
      auto seen = load.InstancesSince(since);
      for (const auto& s : seen) {
        EXPECT_TRUE((on_blue ? blue_names : green_names).count(s)) << s;
      }
      continue;
    }
    Deploy(Request(on_blue ? green : blue));
    on_blue = !on_blue;
    ++ok_deploys;
    auto since = LoadGenerator::Now();
    ASSERT_TRUE(load.WaitForRequestsSince(since, 100, seconds(30)));
  }
  // Keep the load going for at least 10 s in all.
  WaitFor([&] { return LoadGenerator::Now() - load_start >= seconds(11); }, seconds(30),
          milliseconds(100));
  auto since = LoadGenerator::Now();
  ASSERT_TRUE(load.WaitForRequestsSince(since, 200, seconds(30)));
  auto last = load.InstancesSince(since);
  load.Stop();
  LoadStats st = load.Stats();
  EXPECT_EQ(ok_deploys, 20);
  EXPECT_EQ(refused_deploys, 5);
  EXPECT_EQ(st.failed, 0) << st.Summary();
  EXPECT_GT(st.ok, 1000) << st.Summary();
  for (const auto& s : last) EXPECT_TRUE((on_blue ? blue_names : green_names).count(s)) << s;
}

TEST_F(ProxyTest, SlowRequestOnAnOldTargetCompletesAfterTheSwap) {
  StartProxy();
  std::vector<std::unique_ptr<TestApp>> blue, green;
  blue.push_back(StartApp("blue"));
  green.push_back(StartApp("green"));
  Deploy(Request(blue));
  Result<HttpResponse> slow = Status::Error("not run");
  std::thread t([&] {
    HttpClient c("127.0.0.1", port_, seconds(60));
    slow = c.Get("/slow?ms=3000");
  });
  // Wait until the slow request is in flight on blue.
  bool in_flight = WaitFor(
      [&] {
        auto doc = proxy_->client().List();
        if (!doc.ok()) return false;
        for (const auto& tg : (*doc)["services"][0]["pools"]["main"]["targets"]) {
          if (tg["in_flight"].get<int>() > 0) return true;
        }
        return false;
      },
      seconds(20));
  ASSERT_TRUE(in_flight);
  Deploy(Request(green));
  HttpClient c("127.0.0.1", port_);
  auto now = c.Get("/");
  ASSERT_TRUE(now.ok());
  EXPECT_EQ(now->Instance(), "green");
  // The old target is listed as draining while the slow request runs.
  auto doc = proxy_->client().List();
  ASSERT_TRUE(doc.ok());
  EXPECT_THAT(doc->dump(), ::testing::HasSubstr("\"draining\""));
  t.join();
  ASSERT_TRUE(slow.ok()) << slow.error();
  EXPECT_EQ(slow->status, 200);
  EXPECT_EQ(slow->Instance(), "blue");
}

TEST_F(ProxyTest, HostileRequestsAreRefusedWhileOthersAreServed) {
  StartProxy({"--max-body-bytes", "1000", "--header-timeout", "1s", "--max-header-bytes", "4096"});
  std::vector<std::unique_ptr<TestApp>> apps;
  apps.push_back(StartApp("a", {"--log-requests"}));
  Deploy(Request(apps));
  LoadOptions lo;
  lo.port = port_;
  lo.connections = 4;
  LoadGenerator load(lo);
  load.Start();

  struct Case {
    const char* name;
    std::string bytes;
    const char* status;
  } cases[] = {
      {"cl and te",
       "POST /smuggle HTTP/1.1\r\nHost: h\r\nContent-Length: 6\r\nTransfer-Encoding: "
       "chunked\r\n\r\n0\r\n\r\nG",
       "HTTP/1.1 400"},
      {"differing cl",
       "POST /smuggle HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
       "HTTP/1.1 400"},
      {"obfuscated te",
       "POST /smuggle HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
       "HTTP/1.1 400"},
      {"unknown te",
       "POST /smuggle HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
       "HTTP/1.1 400"},
      {"unknown coding before chunked",
       "POST /smuggle HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: x, chunked\r\n\r\n0\r\n\r\n",
       "HTTP/1.1 501"},
      {"space before colon",
       "GET /smuggle HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\n\r\n", "HTTP/1.1 400"},
      {"bad request line", "GET /smuggle\r\nHost: h\r\n\r\n", "HTTP/1.1 400"},
      {"garbage", "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03", "HTTP/1.1 400"},
      {"no host", "GET /smuggle HTTP/1.1\r\n\r\n", "HTTP/1.1 400"},
      {"header too large",
       "GET /smuggle HTTP/1.1\r\nHost: h\r\nX: " + std::string(8000, 'a') + "\r\n\r\n",
       "HTTP/1.1 431"},
      {"body too large", "POST /smuggle HTTP/1.1\r\nHost: h\r\nContent-Length: 5000\r\n\r\n",
       "HTTP/1.1 413"},
      {"bad chunk size",
       "POST /smuggle HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
       "HTTP/1.1 400"},
  };
  for (const auto& c : cases) {
    std::string out = Raw(c.bytes);
    EXPECT_THAT(out, ::testing::StartsWith(c.status)) << c.name << "\n" << out;
  }
  // A slow client that never finishes its head is cut off.
  HttpClient slow("127.0.0.1", port_, seconds(20));
  ASSERT_TRUE(slow.SendRaw("GET / HTTP/1.1\r\nHost: h\r\n").ok());
  EXPECT_TRUE(slow.WaitClosed(seconds(15)));

  load.Stop();
  LoadStats st = load.Stats();
  EXPECT_EQ(st.failed, 0) << st.Summary();
  EXPECT_GT(st.ok, 10);
  // None of the refused requests reached the target.
  EXPECT_THAT(apps[0]->process().Output(), ::testing::Not(::testing::HasSubstr("/smuggle")));
}

TEST_F(ProxyTest, KilledTargetIsEjectedAndGetsKeepSucceeding) {
  StartProxy();
  std::vector<std::unique_ptr<TestApp>> apps;
  apps.push_back(StartApp("a1"));
  apps.push_back(StartApp("a2"));
  Deploy(Request(apps));
  LoadOptions lo;
  lo.port = port_;
  lo.connections = 16;
  LoadGenerator load(lo);
  load.Start();
  ASSERT_TRUE(load.WaitForRequestsSince(LoadGenerator::Now(), 500, seconds(30)));
  apps[1]->process().Signal(SIGKILL);
  const std::string dead = apps[1]->address();
  bool ejected = WaitFor(
      [&] {
        auto doc = proxy_->client().List();
        if (!doc.ok()) return false;
        for (const auto& tg : (*doc)["services"][0]["pools"]["main"]["targets"]) {
          if (tg["address"] == dead) return tg["state"] == "unhealthy";
        }
        return false;
      },
      seconds(20));
  EXPECT_TRUE(ejected);
  auto since = LoadGenerator::Now();
  ASSERT_TRUE(load.WaitForRequestsSince(since, 500, seconds(30)));
  auto after = load.InstancesSince(since);
  load.Stop();
  EXPECT_EQ(after, std::set<std::string>{"a1"});
  LoadStats st = load.Stats();
  EXPECT_EQ(st.failed, 0) << st.Summary();
}

TEST_F(ProxyTest, RestartServesTheSameRoutesAndSurvivesACorruptStateFile) {
  StartProxy();
  std::vector<std::unique_ptr<TestApp>> v1, v2;
  v1.push_back(StartApp("v1"));
  v2.push_back(StartApp("v2"));
  Deploy(Request(v1));
  Deploy(Request(v2));  // routes.json.bak now names v1
  proxy_->process().Signal(SIGTERM);
  ASSERT_TRUE(proxy_->process().Wait(seconds(30)).has_value());
  EXPECT_EQ(proxy_->process().ExitCode(), 0);

  StartProxy();
  HttpClient c("127.0.0.1", port_);
  auto r = c.Get("/");
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->Instance(), "v2");

  // Corrupt the state file: the proxy says so and serves the last good copy.
  proxy_->process().Signal(SIGTERM);
  ASSERT_TRUE(proxy_->process().Wait(seconds(30)).has_value());
  ASSERT_TRUE(WriteFileAtomic(dir_.Join("state/routes.json"), "{\"version\":1,\"serv").ok());
  StartProxy();
  HttpClient c2("127.0.0.1", port_);
  auto r2 = c2.Get("/");
  ASSERT_TRUE(r2.ok()) << r2.error();
  EXPECT_EQ(r2->Instance(), "v1");
  EXPECT_THAT(proxy_->process().Output(), ::testing::HasSubstr("is corrupt"));
  EXPECT_THAT(proxy_->process().Output(), ::testing::HasSubstr("routes.json.bak"));
}

TEST_F(ProxyTest, CliDeployPrintsOneLinePerFailingTarget) {
  StartProxy();
  auto good = StartApp("good");
  const std::string refused = "127.0.0.1:" + std::to_string(FreePort());
  auto res = RunCommand({GRAVITY_BIN, "proxy", "deploy", "site", "--target", good->address(),
                         "--target", refused, "--state-dir", dir_.Join("state"),
                         "--health-interval", "50ms", "--deploy-timeout", "1s"});
  ASSERT_TRUE(res.ok());
  EXPECT_NE(res->exit_code, 0);
  EXPECT_EQ(res->err, refused + ": connection refused\n");

  res = RunCommand({GRAVITY_BIN, "proxy", "deploy", "site", "--target", good->address(),
                    "--state-dir", dir_.Join("state"), "--health-interval", "50ms"});
  ASSERT_TRUE(res.ok());
  EXPECT_EQ(res->exit_code, 0) << res->err;
  res = RunCommand({GRAVITY_BIN, "proxy", "ls", "--json", "--state-dir", dir_.Join("state")});
  ASSERT_TRUE(res.ok());
  EXPECT_THAT(res->out, ::testing::HasSubstr(good->address()));
  res = RunCommand({GRAVITY_BIN, "proxy", "rm", "site", "--state-dir", dir_.Join("state")});
  ASSERT_TRUE(res.ok());
  EXPECT_EQ(res->exit_code, 0) << res->err;
  HttpClient c("127.0.0.1", port_);
  auto r = c.Get("/");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 404);
}

TEST_F(ProxyTest, CanaryGetsItsShareStickyByCookieAndCanBePromoted) {
  StartProxy();
  std::vector<std::unique_ptr<TestApp>> stable, canary;
  stable.push_back(StartApp("stable"));
  canary.push_back(StartApp("canary"));
  Deploy(Request(stable));
  proxy::CanaryRequest cr;
  cr.pool.targets = {canary[0]->address()};
  cr.weight = 30;
  cr.pool.health = FastHealth();
  auto res = proxy_->client().DeployCanary("site", cr);
  ASSERT_TRUE(res.ok()) << res.error();
  ASSERT_TRUE(res->ok) << res->error;

  HttpClient c("127.0.0.1", port_);
  HttpRequest low;
  low.headers = {{"Cookie", "a=b; gravity_bucket=10"}};
  HttpRequest high;
  high.headers = {{"Cookie", "gravity_bucket=90"}};
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(c.Send(low)->Instance(), "canary");
    EXPECT_EQ(c.Send(high)->Instance(), "stable");
  }
  // A new client is assigned a bucket and keeps it.
  auto first = c.Get("/");
  ASSERT_TRUE(first.ok());
  std::string cookie = first->HeaderOr("Set-Cookie");
  ASSERT_THAT(cookie, ::testing::StartsWith("gravity_bucket="));
  HttpRequest again;
  again.headers = {{"Cookie", cookie.substr(0, cookie.find(';'))}};
  for (int i = 0; i < 5; ++i) EXPECT_EQ(c.Send(again)->Instance(), first->Instance());

  ASSERT_TRUE(proxy_->client().SetCanaryWeight("site", 0).ok());
  EXPECT_EQ(c.Send(low)->Instance(), "stable");
  ASSERT_TRUE(proxy_->client().SetCanaryWeight("site", 100).ok());
  EXPECT_EQ(c.Send(high)->Instance(), "canary");
  ASSERT_TRUE(proxy_->client().PromoteCanary("site").ok());
  for (int i = 0; i < 4; ++i) EXPECT_EQ(c.Get("/")->Instance(), "canary");
  auto doc = proxy_->client().List();
  ASSERT_TRUE(doc.ok());
  EXPECT_TRUE((*doc)["services"][0]["pools"]["canary"].is_null());
}

TEST_F(ProxyTest, BaselineIsHealthCheckedAsTheLiveReleaseNotAsTheCanary) {
  // The new release's health check asks for a body the live release does not serve; the
  // baseline runs the live release, so it must be checked with the main pool's spec, or
  // no canary with a changed health check could ever have a baseline.
  StartProxy();
  std::vector<std::unique_ptr<TestApp>> stable;
  stable.push_back(StartApp("stable", {}, 200, "v1"));
  auto baseline = StartApp("baseline", {}, 200, "v1");
  auto canary = StartApp("canary", {}, 200, "v2 ready");
  ASSERT_TRUE(stable[0] && baseline && canary);
  Deploy(Request(stable));
  proxy::CanaryRequest cr;
  cr.pool.targets = {canary->address()};
  cr.baseline = {baseline->address()};
  cr.weight = 20;
  cr.pool.health = FastHealth();
  cr.pool.health.body_contains = "v2 ready";
  cr.deploy_timeout = seconds(10);
  auto res = proxy_->client().DeployCanary("site", cr);
  ASSERT_TRUE(res.ok()) << res.error();
  ASSERT_TRUE(res->ok) << res->error;

  HttpClient c("127.0.0.1", port_);
  auto as = [&](int bucket) {
    HttpRequest r;
    r.headers = {{"Cookie", "gravity_bucket=" + std::to_string(bucket)}};
    auto got = c.Send(r);
    return got.ok() ? got->Instance() : "error: " + got.error();
  };
  EXPECT_EQ(as(10), "canary");
  EXPECT_EQ(as(30), "baseline");
  EXPECT_EQ(as(90), "stable");
  auto doc = proxy_->client().List();
  ASSERT_TRUE(doc.ok());
  const auto& pools = (*doc)["services"][0]["pools"];
  ASSERT_TRUE(pools["baseline"].is_object()) << pools.dump();
  EXPECT_EQ(pools["baseline"]["health"]["body_contains"], "") << pools.dump();
  EXPECT_EQ(pools["canary"]["health"]["body_contains"], "v2 ready") << pools.dump();
}

TEST_F(ProxyTest, ControlApiAnswersInJsonWhenTheRequestHoldsBytesThatAreNotUtf8) {
  // The byte 0xFF in the target must not drop the connection without an answer. The HTTP
  // parser refuses it before the control API sees it (a request target is ASCII); that
  // the API's own errors quoting such bytes stay JSON is a ControlApi unit test.
  StartProxy();
  auto r = proxy_->client().Call("GET", "/v1/services/bad\xff");
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->status, 400);
  auto j = nlohmann::json::parse(r->body, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r->body;
  EXPECT_NE(j["error"].get<std::string>().find("request target"), std::string::npos) << r->body;
  auto list = proxy_->client().List();  // the control plane still serves
  EXPECT_TRUE(list.ok()) << list.error();
}

TEST_F(ProxyTest, SecondProxyOnATakenAddressFailsClearlyAndTheFirstKeepsEveryConnection) {
  StartProxy({"--workers", "2"});
  std::vector<std::unique_ptr<TestApp>> apps;
  apps.push_back(StartApp("only"));
  Deploy(Request(apps));

  // A second proxy on the same address: refused at once, before it makes a control socket.
  // (Were the listener shared through SO_REUSEPORT, it would start and serve a share.)
  const std::string taken = "127.0.0.1:" + std::to_string(port_);
  const std::string second_state = dir_.Join("second");
  auto res = RunCommand({GRAVITY_BIN, "proxy", "run", "--listen", taken, "--state-dir",
                         second_state, "--workers", "2"},
                        "", {}, seconds(20));
  ASSERT_TRUE(res.ok()) << res.error();
  ASSERT_FALSE(res->timed_out) << "a second proxy started on " << taken;
  EXPECT_EQ(res->exit_code, 1);
  EXPECT_THAT(res->err + res->out, ::testing::HasSubstr("cannot listen on " + taken +
                                                        ": the address is already in use"));
  EXPECT_NE(::access((second_state + "/proxy.sock").c_str(), F_OK), 0);

  // The same for an address another server listens on.
  res = RunCommand(
      {GRAVITY_BIN, "proxy", "run", "--listen", apps[0]->address(), "--state-dir", second_state},
      "", {}, seconds(20));
  ASSERT_TRUE(res.ok()) << res.error();
  ASSERT_FALSE(res->timed_out) << "a proxy started on the test app's address";
  EXPECT_EQ(res->exit_code, 1);
  EXPECT_THAT(res->err + res->out, ::testing::HasSubstr("the address is already in use"));

  // Every new connection still reaches the first proxy, whichever worker it is given to.
  for (int i = 0; i < 40; ++i) {
    HttpClient c("127.0.0.1", port_, seconds(20));
    auto r = c.Get("/");
    ASSERT_TRUE(r.ok()) << "connection " << i << ": " << r.error();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->Instance(), "only");
  }
}

}  // namespace
}  // namespace gravity::test
