// Self-tests of gravity-testapp: each flag and path does what tests elsewhere rely on.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <thread>

#include "support/support.h"

namespace gravity::test {
namespace {

using namespace std::chrono_literals;

std::unique_ptr<TestApp> MustStart(TestAppOptions options = {}) {
  auto app = TestApp::Start(std::move(options));
  EXPECT_TRUE(app.ok()) << app.error();
  return app.ok() ? std::move(app).value() : nullptr;
}

TEST(TestApp, ServesBodyStatusAndInstanceOverKeepAlive) {
  auto app = MustStart({.name = "blue", .body = "Automation for the people\n"});
  ASSERT_TRUE(app);
  HttpClient client("127.0.0.1", app->port());
  for (int i = 0; i < 3; ++i) {
    auto res = client.Get("/");
    ASSERT_TRUE(res.ok()) << res.error();
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(res->body, "Automation for the people\n");
    EXPECT_EQ(res->Instance(), "blue");
    EXPECT_TRUE(res->keep_alive);
  }
  EXPECT_EQ(client.connections_opened(), 1);
}

TEST(TestApp, InstanceDefaultsToPortAndStatusFlagApplies) {
  auto app = MustStart({.status = 500});
  ASSERT_TRUE(app);
  auto res = HttpGet(app->port(), "/");
  ASSERT_TRUE(res.ok()) << res.error();
  EXPECT_EQ(res->status, 500);
  EXPECT_EQ(res->Instance(), std::to_string(app->port()));
  EXPECT_EQ(res->body, "gravity-testapp " + std::to_string(app->port()) + "\n");
}

TEST(TestApp, PathsStatusBytesEchoHead) {
  auto app = MustStart({.name = "x"});
  ASSERT_TRUE(app);
  HttpClient client("127.0.0.1", app->port());
  auto st = client.Get("/status?code=503");
  ASSERT_TRUE(st.ok()) << st.error();
  EXPECT_EQ(st->status, 503);
  auto bytes = client.Get("/bytes?n=300000");
  ASSERT_TRUE(bytes.ok()) << bytes.error();
  EXPECT_EQ(bytes->body.size(), 300000u);
  HttpRequest echo;
  echo.method = "POST";
  echo.target = "/echo";
  echo.host = "www.localhost";
  echo.headers = {{"X-Test", "yes"}};
  echo.body = "payload";
  auto e = client.Send(echo);
  ASSERT_TRUE(e.ok()) << e.error();
  EXPECT_NE(e->body.find("\"x-test\":\"yes\""), std::string::npos) << e->body;
  EXPECT_NE(e->body.find("\"host\":\"www.localhost\""), std::string::npos) << e->body;
  EXPECT_NE(e->body.find("\"body\":\"payload\""), std::string::npos) << e->body;
  HttpRequest head;
  head.method = "HEAD";
  auto h = client.Send(head);
  ASSERT_TRUE(h.ok()) << h.error();
  EXPECT_EQ(h->status, 200);
  EXPECT_TRUE(h->body.empty());
  EXPECT_EQ(h->HeaderOr("Content-Length"), "18");  // "gravity-testapp x\n"
  // The connection is still in sync after HEAD.
  auto again = client.Get("/");
  ASSERT_TRUE(again.ok()) << again.error();
  EXPECT_EQ(again->body, "gravity-testapp x\n");
  EXPECT_EQ(client.connections_opened(), 1);
}

TEST(TestApp, StreamsChunksAsTheyAreProduced) {
  auto app = MustStart();
  ASSERT_TRUE(app);
  HttpClient client("127.0.0.1", app->port());
  HttpRequest req;
  req.target = "/stream?chunks=4&ms=50";
  int pieces = 0;
  req.on_body = [&](std::string_view) { ++pieces; };
  auto res = client.Send(req);
  ASSERT_TRUE(res.ok()) << res.error();
  EXPECT_TRUE(res->chunked);
  EXPECT_EQ(res->body, "chunk 0\nchunk 1\nchunk 2\nchunk 3\n");
  EXPECT_EQ(pieces, 4);
}

TEST(TestApp, SlowRequestAnswersAfterTheDelay) {
  auto app = MustStart();
  ASSERT_TRUE(app);
  auto before = std::chrono::steady_clock::now();
  auto res = HttpGet(app->port(), "/slow?ms=200");
  ASSERT_TRUE(res.ok()) << res.error();
  EXPECT_EQ(res->status, 200);
  // A lower bound only: the delay is a minimum, however loaded the machine is.
  EXPECT_GE(std::chrono::steady_clock::now() - before, 200ms);
}

TEST(TestApp, MalformedRequestGets400AndClose) {
  auto app = MustStart();
  ASSERT_TRUE(app);
  HttpClient client("127.0.0.1", app->port());
  ASSERT_TRUE(client.SendRaw("GARBAGE\r\n\r\n").ok());
  auto res = client.ReadResponse();
  ASSERT_TRUE(res.ok()) << res.error();
  EXPECT_EQ(res->status, 400);
  EXPECT_TRUE(client.WaitClosed(10s));
}

TEST(TestApp, ExitAtStartExitsNonZero) {
  auto app = TestApp::Start({.extra_args = {"--exit-at-start"}});
  ASSERT_FALSE(app.ok());
  EXPECT_NE(app.error().find("exited before listening"), std::string::npos) << app.error();
}

TEST(TestApp, NeverListenKeepsRunningWithoutAPort) {
  int port = FreePort();
  auto app = TestApp::Start(
      {.port = port, .extra_args = {"--never-listen"}, .wait_until_listening = false});
  ASSERT_TRUE(app.ok()) << app.error();
  ASSERT_TRUE((*app)->process().WaitForOutput("never listening", 30s));
  EXPECT_TRUE((*app)->process().Running());
  EXPECT_FALSE(PortOpen(port));
}

TEST(TestApp, StartDelayPostponesListening) {
  int port = FreePort();
  auto app = TestApp::Start(
      {.port = port, .extra_args = {"--start-delay", "300ms"}, .wait_until_listening = false});
  ASSERT_TRUE(app.ok()) << app.error();
  ASSERT_TRUE((*app)->process().WaitForOutput("starting", 30s));
  EXPECT_TRUE(WaitFor([&] { return PortOpen(port); }, 30s));
  // The line is printed just after listen(): poll for it too.
  EXPECT_TRUE((*app)->process().WaitForOutput("listening on 127.0.0.1:" + std::to_string(port),
                                              30s))
      << (*app)->process().Output();
}

TEST(TestApp, CrashAfterRequestsExitsWithoutAnswering) {
  auto app = MustStart({.extra_args = {"--crash-after-requests", "2"}});
  ASSERT_TRUE(app);
  HttpClient client("127.0.0.1", app->port());
  EXPECT_TRUE(client.Get("/").ok());
  EXPECT_TRUE(client.Get("/").ok());
  auto third = client.Get("/");
  EXPECT_FALSE(third.ok());
  auto status = app->process().Wait(30s);
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 70);
}

TEST(TestApp, SigtermLetsInFlightRequestFinishThenExitsZero) {
  auto app = MustStart();
  ASSERT_TRUE(app);
  Result<HttpResponse> slow = Status::Error("not run");
  std::thread t([&] { slow = HttpGet(app->port(), "/slow?ms=500"); });
  // Wait until the slow request is in flight.
  ASSERT_TRUE(WaitFor(
      [&] {
        auto stats = HttpGet(app->port(), "/stats");
        return stats.ok() && stats->body.find("\"in_flight\":1") != std::string::npos;
      },
      30s));
  app->process().Signal(SIGTERM);
  t.join();
  ASSERT_TRUE(slow.ok()) << slow.error();
  EXPECT_EQ(slow->status, 200);
  auto status = app->process().Wait(30s);
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 0);
}

TEST(TestApp, WebSocketUpgradeIsAccepted) {
  auto app = MustStart({.name = "ws"});
  ASSERT_TRUE(app);
  HttpClient client("127.0.0.1", app->port());
  ASSERT_TRUE(client
                  .SendRaw("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                           "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                           "Sec-WebSocket-Version: 13\r\n\r\n")
                  .ok());
  auto res = client.ReadResponse();
  ASSERT_TRUE(res.ok()) << res.error();
  EXPECT_EQ(res->status, 101);
  EXPECT_EQ(res->HeaderOr("Sec-WebSocket-Accept"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  EXPECT_EQ(res->Instance(), "ws");
  // A masked text frame "hi" comes back unmasked.
  const unsigned char frame[] = {0x81, 0x82, 0x01, 0x02, 0x03, 0x04, 'h' ^ 0x01, 'i' ^ 0x02};
  ASSERT_TRUE(client.SendRaw(std::string_view(reinterpret_cast<const char*>(frame), 8)).ok());
  ASSERT_TRUE(client.SendRaw(std::string_view("\x88\x80\x00\x00\x00\x00", 6)).ok());  // close
  auto rest = client.ReadUntilClose();
  ASSERT_TRUE(rest.ok()) << rest.error();
  EXPECT_EQ(rest->substr(0, 4), std::string("\x81\x02hi", 4));
}

}  // namespace
}  // namespace gravity::test
