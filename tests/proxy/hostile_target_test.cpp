// `gravity proxy` in front of targets that misbehave on purpose, and clients that send what
// a reverse proxy for apps must refuse or rewrite: no client ever receives bytes meant for
// another, and nothing refused reaches a target.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <csignal>
#include <thread>

#include "common/fs.h"
#include "proxy/proxy_fixture.h"
#include "support/support.h"

namespace gravity::test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

// The path of a request head ("GET /x HTTP/1.1\r\n..." -> "/x").
std::string PathOf(const std::string& head) {
  std::size_t a = head.find(' ');
  std::size_t b = head.find(' ', a + 1);
  return head.substr(a + 1, b - a - 1);
}

class HostileTargetTest : public ProxyTest {
 protected:
  // Deploys one RawTarget as service `name` for `host`.
  void DeployRaw(const std::string& name, const RawTarget& t, const std::string& host = "") {
    DeployRequest r;
    r.service = name;
    r.targets = {t.address()};
    if (!host.empty()) r.hosts = {host};
    r.health = FastHealth();
    r.deploy_timeout = seconds(20);
    r.drain_timeout = seconds(2);
    Deploy(r);
  }
};

// Health checks get a plain 200; every other path is answered by `f`.
RawTarget::Handler WithHealth(std::function<RawReply(const std::string&)> f) {
  return [f](const std::string& head) {
    if (PathOf(head) == "/") return RawReply{SimpleResponse(200, "up")};
    return f(head);
  };
}

TEST_F(HostileTargetTest, BytesAfterACompleteResponseNeverReachTheNextClient) {
  StartProxy();
  // After /stray's response the target sends a second, unrequested response: at once in the
  // same write (after a 204 and after a Content-Length body), and 150 ms later.
  const std::string evil = SimpleResponse(200, "evil");
  RawTarget t(WithHealth([&](const std::string& head) {
    std::string path = PathOf(head);
    if (path == "/stray-now-204") return RawReply{"HTTP/1.1 204 No Content\r\n\r\n" + evil};
    if (path == "/stray-now-body") return RawReply{SimpleResponse(200, "ok") + evil};
    if (path == "/stray-later") {
      RawReply r{"HTTP/1.1 204 No Content\r\n\r\n"};
      r.later = evil;
      r.delay = milliseconds(150);
      return r;
    }
    return RawReply{SimpleResponse(200, "for " + path)};
  }));
  ASSERT_TRUE(t.Start());
  DeployRaw("site", t);

  for (std::string stray : {"/stray-now-204", "/stray-now-body", "/stray-later"}) {
    for (int round = 0; round < 5; ++round) {
      {
        HttpClient a("127.0.0.1", port_);
        auto r = a.Get(stray);
        ASSERT_TRUE(r.ok()) << r.error();
        EXPECT_THAT(r->body, Not(HasSubstr("evil"))) << stray;
      }
      // Let the stray bytes arrive while the upstream connection sits in the pool.
      std::this_thread::sleep_for(milliseconds(stray == "/stray-later" ? 250 : 20));
      HttpClient b("127.0.0.1", port_);
      for (int i = 0; i < 3; ++i) {
        std::string path = "/next-" + std::to_string(round) + "-" + std::to_string(i);
        auto r = b.Get(path);
        ASSERT_TRUE(r.ok()) << r.error();
        EXPECT_EQ(r->status, 200) << stray;
        EXPECT_EQ(r->body, "for " + path) << stray << ": a client got another's response";
      }
    }
  }
}

TEST_F(HostileTargetTest, ConnectIsRefusedAndNeverTunnelled) {
  StartProxy();
  RawTarget t(WithHealth([](const std::string& head) {
    if (head.rfind("CONNECT", 0) == 0) {
      return RawReply{"HTTP/1.1 200 Connection Established\r\n\r\n", "tunnel-bytes"};
    }
    return RawReply{SimpleResponse(200, "plain " + PathOf(head))};
  }));
  ASSERT_TRUE(t.Start());
  DeployRaw("site", t);

  for (const std::string& req :
       {std::string("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\nhello"),
        std::string("CONNECT 127.0.0.1:22 HTTP/1.0\r\n\r\n")}) {
    std::string out = Raw(req);
    EXPECT_THAT(out, StartsWith("HTTP/1.1 501")) << out;
    EXPECT_THAT(out, Not(HasSubstr("tunnel-bytes")));
  }
  EXPECT_EQ(t.Received("CONNECT"), 0u);
  HttpClient c("127.0.0.1", port_);
  auto r = c.Get("/after");
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->body, "plain /after");
}

TEST_F(HostileTargetTest, AbsoluteFormIsRoutedByItsAuthorityWhichBecomesTheHost) {
  StartProxy();
  RawTarget www(WithHealth([](const std::string&) { return RawReply{SimpleResponse(200, "www")}; }));
  RawTarget admin(
      WithHealth([](const std::string&) { return RawReply{SimpleResponse(200, "admin")}; }));
  ASSERT_TRUE(www.Start());
  ASSERT_TRUE(admin.Start());
  DeployRaw("www", www, "www.example");
  DeployRaw("admin", admin, "admin.example");

  std::string out = Raw(
      "GET http://admin.example/secret?x=1 HTTP/1.1\r\nHost: www.example\r\nConnection: "
      "close\r\n\r\n");
  EXPECT_THAT(out, StartsWith("HTTP/1.1 200"));
  EXPECT_THAT(out, HasSubstr("admin"));
  EXPECT_EQ(www.Received("/secret"), 0u);
  ASSERT_EQ(admin.Received("/secret"), 1u);
  std::string head;
  for (const auto& h : admin.requests()) {
    if (h.find("/secret") != std::string::npos) head = h;
  }
  EXPECT_THAT(head, StartsWith("GET /secret?x=1 HTTP/1.1\r\n"));  // origin-form upstream
  EXPECT_THAT(head, HasSubstr("Host: admin.example\r\n"));
  EXPECT_THAT(head, Not(HasSubstr("www.example")));

  // User information in the URL is dropped, never passed on.
  out = Raw("GET http://me:pw@admin.example/u HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_THAT(out, StartsWith("HTTP/1.1 200"));
  EXPECT_EQ(admin.Received("GET /u HTTP/1.1\r\nHost: admin.example\r\n"), 1u);
  EXPECT_EQ(admin.Received("me:pw"), 0u);

  // "http://host" without a path is "/"; an HTTP/1.0 request without Host still gets one.
  out = Raw("GET http://www.example HTTP/1.1\r\nHost: www.example\r\nConnection: close\r\n\r\n");
  EXPECT_THAT(out, StartsWith("HTTP/1.1 200"));
  EXPECT_EQ(www.Received("GET / HTTP/1.1\r\nHost: www.example"), 1u);
}

TEST_F(HostileTargetTest, MalformedTargetsHostsAndChunksAreRefusedBeforeTheTarget) {
  StartProxy({"--max-header-bytes", "8192"});
  RawTarget t(WithHealth([](const std::string&) { return RawReply{SimpleResponse(200, "ok")}; }));
  ASSERT_TRUE(t.Start());
  DeployRaw("site", t);
  struct Case {
    const char* name;
    std::string bytes;
    const char* status;
  } cases[] = {
      {"host list", "GET /bad HTTP/1.1\r\nHost: a, b\r\n\r\n", "HTTP/1.1 400"},
      {"host with space", "GET /bad HTTP/1.1\r\nHost: a b\r\n\r\n", "HTTP/1.1 400"},
      {"host with path", "GET /bad HTTP/1.1\r\nHost: a/evil\r\n\r\n", "HTTP/1.1 400"},
      {"host with userinfo", "GET /bad HTTP/1.1\r\nHost: user@a\r\n\r\n", "HTTP/1.1 400"},
      {"host bad port", "GET /bad HTTP/1.1\r\nHost: a:80x\r\n\r\n", "HTTP/1.1 400"},
      {"url with empty host", "GET http://u@/bad HTTP/1.1\r\nHost: a\r\n\r\n", "HTTP/1.1 400"},
      {"chunk size then space",
       "POST /bad HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1 \r\nx\r\n0\r\n\r\n",
       "HTTP/1.1 400"},
      {"relative target", "GET bad HTTP/1.1\r\nHost: a\r\n\r\n", "HTTP/1.1 400"},
      {"asterisk for GET", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", "HTTP/1.1 400"},
      {"authority for GET", "GET a:80 HTTP/1.1\r\nHost: a\r\n\r\n", "HTTP/1.1 400"},
      {"raw non-ascii target", "GET /bad\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", "HTTP/1.1 400"},
      {"long target", "GET /bad" + std::string(20000, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n",
       "HTTP/1.1 414"},
      {"te identity", "POST /bad HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n",
       "HTTP/1.1 400"},
      {"te gzip", "POST /bad HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
       "HTTP/1.1 400"},
      {"chunk ext garbage",
       "POST /bad HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1;a\"b\r\nx\r\n0\r\n\r\n",
       "HTTP/1.1 400"},
      {"trailer without colon",
       "POST /bad HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\nnocolon\r\n\r\n",
       "HTTP/1.1 400"},
      {"http/2.0", "GET /bad HTTP/2.0\r\nHost: a\r\n\r\n", "HTTP/1.1 505"},
  };
  for (const auto& c : cases) {
    std::string out = Raw(c.bytes);
    EXPECT_THAT(out, StartsWith(c.status)) << c.name << "\n" << out.substr(0, 200);
  }
  EXPECT_EQ(t.Received("/bad"), 0u);

  // Valid and handled: HTTP/1.2 as 1.1, leading zeros in a chunk size, extensions with
  // values, and an HTTP/1.0 request without Host (sent upstream with the target's address).
  for (const std::string& ok :
       {std::string("GET /good1 HTTP/1.2\r\nHost: a\r\nConnection: close\r\n\r\n"),
        std::string("POST /good2 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                    "Connection: close\r\n\r\n00000000000000000001;a=b;c=\"d e\"\r\nx\r\n0\r\n\r\n"),
        std::string("GET /good3 HTTP/1.0\r\n\r\n")}) {
    std::string out = Raw(ok);
    EXPECT_THAT(out, StartsWith("HTTP/1.1 200")) << ok << "\n" << out;
  }
  EXPECT_EQ(t.Received("/good"), 3u);
  EXPECT_EQ(t.Received("GET /good3 HTTP/1.1\r\nHost: " + t.address()), 1u);
}

TEST_F(HostileTargetTest, ResponseFramingRules) {
  StartProxy();
  RawTarget t(WithHealth([](const std::string& head) {
    std::string path = PathOf(head);
    if (path == "/te-deflate") {
      RawReply r{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, deflate\r\n\r\nrawbytes"};
      r.close = true;
      return r;
    }
    if (path == "/bad-chunk") {
      return RawReply{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "", {}, true};
    }
    return RawReply{SimpleResponse(200, "ok")};
  }));
  ASSERT_TRUE(t.Start());
  DeployRaw("site", t);
  // Codings not ending in chunked: the body is read until the target closes.
  std::string out = Raw("GET /te-deflate HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_THAT(out, StartsWith("HTTP/1.1 200"));
  EXPECT_THAT(out, HasSubstr("Transfer-Encoding: chunked, deflate\r\n"));
  EXPECT_THAT(out, HasSubstr("\r\n\r\nrawbytes"));
  // A framing error before anything was sent to the client: a 502 that says why.
  out = Raw("GET /bad-chunk HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_THAT(out, StartsWith("HTTP/1.1 502"));
  EXPECT_THAT(out, HasSubstr("chunk"));
}

// A client connection idle for a while gives up its read buffer (the sweep cancels its read)
// and is served as before when its next request comes, whole or in pieces.
TEST_F(HostileTargetTest, KeepAliveConnectionIdleLongEnoughToBeTrimmedIsServedAsBefore) {
  StartProxy();
  RawTarget t(WithHealth([](const std::string& head) {
    return RawReply{SimpleResponse(200, "for " + PathOf(head))};
  }));
  ASSERT_TRUE(t.Start());
  DeployRaw("site", t);
  HttpClient c("127.0.0.1", port_);
  c.set_retry_stale(false);  // a connection closed while idle must fail the test
  for (int i = 0; i < 3; ++i) {
    auto r = c.Get("/idle-" + std::to_string(i));
    ASSERT_TRUE(r.ok()) << r.error();
    EXPECT_EQ(r->body, "for /idle-" + std::to_string(i));
    std::this_thread::sleep_for(milliseconds(450));  // past the trim (200 ms + a sweep)
  }
  EXPECT_EQ(c.connections_opened(), 1);
  // A head split across the idle wait: the first bytes arrive, then the rest later.
  HttpClient raw("127.0.0.1", port_);
  ASSERT_TRUE(raw.SendRaw("GET /split HTTP/1.1\r\nHo").ok());
  std::this_thread::sleep_for(milliseconds(450));
  ASSERT_TRUE(raw.SendRaw("st: a\r\nConnection: close\r\n\r\n").ok());
  auto out = raw.ReadUntilClose();
  ASSERT_TRUE(out.ok());
  EXPECT_THAT(*out, HasSubstr("for /split"));
}

// Parked connections are watched as one set outside the event loop: when many of them send
// their next request at the same moment (more than one batch of the set), each is woken
// once and served on the connection it parked with.
TEST_F(HostileTargetTest, ManyParkedConnectionsWokenAtOnceAreEachServed) {
  StartProxy();
  RawTarget t(WithHealth([](const std::string& head) {
    return RawReply{SimpleResponse(200, "for " + PathOf(head))};
  }));
  ASSERT_TRUE(t.Start());
  DeployRaw("site", t);
  constexpr int kClients = 200;
  std::vector<std::unique_ptr<HttpClient>> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(std::make_unique<HttpClient>("127.0.0.1", port_));
    clients.back()->set_retry_stale(false);
    auto r = clients.back()->Get("/first-" + std::to_string(i));
    ASSERT_TRUE(r.ok()) << i << ": " << r.error();
  }
  std::this_thread::sleep_for(milliseconds(450));  // past the trim: all parked
  for (int i = 0; i < kClients; ++i) {
    ASSERT_TRUE(clients[static_cast<std::size_t>(i)]
                    ->SendRaw("GET /second-" + std::to_string(i) + " HTTP/1.1\r\nHost: a\r\n\r\n")
                    .ok());
  }
  for (int i = 0; i < kClients; ++i) {
    HttpClient& c = *clients[static_cast<std::size_t>(i)];
    auto r = c.ReadResponse();
    ASSERT_TRUE(r.ok()) << i << ": " << r.error();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "for /second-" + std::to_string(i));
    EXPECT_EQ(c.connections_opened(), 1) << i;
  }
}

// A connection parked between requests (idle past the trim, holding neither buffer nor
// coroutine) keeps its deadline: the idle timeout closes it, and a shutdown does not wait
// for it (the proxy exits within its short grace, not at the shutdown timeout).
TEST_F(HostileTargetTest, ParkedConnectionsCloseAtTheIdleTimeoutAndDoNotHoldAShutdown) {
  StartProxy({"--idle-timeout", "1500ms", "--shutdown-timeout", "30s"});
  RawTarget t(WithHealth([](const std::string& head) {
    return RawReply{SimpleResponse(200, "for " + PathOf(head))};
  }));
  ASSERT_TRUE(t.Start());
  DeployRaw("site", t);
  HttpClient idle("127.0.0.1", port_);
  idle.set_retry_stale(false);
  auto r = idle.Get("/a");
  ASSERT_TRUE(r.ok()) << r.error();
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(idle.WaitClosed(seconds(10)));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, milliseconds(1000));  // parked first, closed at 1.5 s

  HttpClient parked("127.0.0.1", port_);
  ASSERT_TRUE(parked.Get("/b").ok());
  std::this_thread::sleep_for(milliseconds(450));  // past the trim: parked
  const auto t1 = std::chrono::steady_clock::now();
  proxy_->process().Signal(SIGTERM);
  ASSERT_TRUE(proxy_->process().Wait(seconds(20)).has_value()) << proxy_->process().Output();
  EXPECT_EQ(proxy_->process().ExitCode(), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - t1, seconds(10));
  EXPECT_TRUE(parked.WaitClosed(seconds(1)));
}

TEST_F(HostileTargetTest, ListenOnPortZeroPicksAFreePort) {
  TempDir d("proxy-port0");
  std::string ready = d.Join("ready");
  auto p = Subprocess::Start({{GRAVITY_BIN, "proxy", "run", "--listen", "127.0.0.1:0",
                               "--state-dir", d.Join("state"), "--ready-file", ready}});
  ASSERT_TRUE(p.ok()) << p.error();
  ASSERT_TRUE(WaitFor([&] { return ::access(ready.c_str(), F_OK) == 0; }, seconds(30)))
      << (*p)->Output();
  auto text = ReadFile(ready);
  ASSERT_TRUE(text.ok());
  EXPECT_THAT(*text, StartsWith("127.0.0.1:"));
  EXPECT_THAT(*text, Not(HasSubstr("127.0.0.1:0\n")));
}

}  // namespace
}  // namespace gravity::test
