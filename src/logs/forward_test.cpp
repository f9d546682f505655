#include "logs/forward.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "common/fs.h"
#include "support/support.h"

namespace gravity::logs {
namespace {

Entry Line(int i, std::string stream = "stdout") {
  Entry e;
  e.time_ns = std::int64_t{1769860800} * 1000000000 + i * 1000;  // 2026-01-31T12:00:00Z
  e.app = "site";
  e.env = "staging";
  e.release = "4f2a9c0";
  e.instance = "site-staging-1";
  e.source = "app";
  e.stream = std::move(stream);
  e.text = "line " + std::to_string(i);
  return e;
}

int Listen(int type, std::uint16_t* port) {
  int fd = ::socket(AF_INET, type, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(*port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  if (type == SOCK_STREAM) ::listen(fd, 8);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  *port = ntohs(a.sin_port);
  return fd;
}

// Reads octet-counted syslog frames from `fd` until `n` arrived (bounded).
std::vector<std::string> ReadFrames(int fd, std::size_t n) {
  std::vector<std::string> out;
  std::string buf;
  char chunk[65536];
  for (int idle = 0; out.size() < n && idle < 100;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) {
      ++idle;
      continue;
    }
    ssize_t r = ::recv(fd, chunk, sizeof chunk, 0);
    if (r <= 0) break;
    buf.append(chunk, static_cast<std::size_t>(r));
    for (;;) {
      std::size_t sp = buf.find(' ');
      if (sp == std::string::npos) break;
      std::size_t len = std::stoul(buf.substr(0, sp));
      if (buf.size() < sp + 1 + len) break;
      out.push_back(buf.substr(sp + 1, len));
      buf.erase(0, sp + 1 + len);
    }
  }
  return out;
}

TEST(SyslogMessage, Rfc5424WithStructuredData) {
  Entry e = Line(7, "stderr");
  e.release = "4f2a\"]x";
  EXPECT_EQ(SyslogMessage(e, "host1"),
            "<11>1 2026-01-31T12:00:00.000007Z host1 site - app [gravity@32473 env=\"staging\" "
            "release=\"4f2a\\\"\\]x\" instance=\"site-staging-1\" stream=\"stderr\"] line 7");
  EXPECT_EQ(SyslogMessage(Line(1), "h").substr(0, 4), "<14>");
}

TEST(LokiPushBody, OneStreamPerLabelSet) {
  Entry a = Line(1), b = Line(2), c = Line(3);
  c.source = "proxy";
  auto j = nlohmann::json::parse(LokiPushBody({a, b, c}));
  ASSERT_EQ(j["streams"].size(), 2u);
  const auto& s = j["streams"][0];
  EXPECT_EQ(s["stream"]["app"], "site");
  EXPECT_EQ(s["stream"]["env"], "staging");
  EXPECT_EQ(s["stream"]["release"], "4f2a9c0");
  EXPECT_EQ(s["stream"]["source"], "app");
  ASSERT_EQ(s["values"].size(), 2u);
  EXPECT_EQ(s["values"][0][0], "1769860800000001000");
  EXPECT_EQ(s["values"][0][1], "line 1");
}

TEST(Forwarder, SyslogTcpDownThenUpGetsTheQueuedLinesInOrder) {
  std::uint16_t port = 0;
  int probe = Listen(SOCK_STREAM, &port);
  ASSERT_GE(probe, 0);
  ::close(probe);  // nothing listens: the forwarder queues and retries
  FakeClock clock;
  Destination d;
  d.kind = Destination::Kind::kSyslogTcp;
  d.host = "127.0.0.1";
  d.port = port;
  Forwarder f(d, clock);
  f.Start();
  std::vector<Entry> lines;
  for (int i = 0; i < 500; ++i) lines.push_back(Line(i));
  f.Offer(lines);
  ASSERT_TRUE(test::WaitFor([&] { return !f.last_error().empty(); }, std::chrono::seconds(30)));
  EXPECT_EQ(f.sent(), 0u);
  int server = Listen(SOCK_STREAM, &port);
  ASSERT_GE(server, 0) << "port " << port << " taken meanwhile";
  pollfd p{server, POLLIN, 0};
  ASSERT_GT(::poll(&p, 1, 30000), 0);
  int conn = ::accept(server, nullptr, nullptr);
  auto frames = ReadFrames(conn, 500);
  ASSERT_EQ(frames.size(), 500u);
  for (int i = 0; i < 500; ++i) {
    ASSERT_NE(frames[i].find("] line " + std::to_string(i)), std::string::npos) << frames[i];
  }
  EXPECT_TRUE(test::WaitFor([&] { return f.sent() == 500; }, std::chrono::seconds(30)));
  EXPECT_EQ(f.dropped(), 0u);
  f.Stop();
  ::close(conn);
  ::close(server);
}

TEST(Forwarder, SyslogUdpOneDatagramPerLine) {
  std::uint16_t port = 0;
  int server = Listen(SOCK_DGRAM, &port);
  ASSERT_GE(server, 0);
  FakeClock clock;
  Destination d;
  d.kind = Destination::Kind::kSyslogUdp;
  d.host = "127.0.0.1";
  d.port = port;
  Forwarder f(d, clock);
  f.Start();
  f.Offer({Line(1), Line(2), Line(3)});
  std::vector<std::string> got;
  char buf[9000];
  for (int i = 0; i < 100 && got.size() < 3; ++i) {
    pollfd p{server, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    ssize_t n = ::recv(server, buf, sizeof buf, 0);
    if (n > 0) got.emplace_back(buf, static_cast<std::size_t>(n));
  }
  ASSERT_EQ(got.size(), 3u);
  EXPECT_NE(got[2].find("] line 3"), std::string::npos);
  f.Stop();
  ::close(server);
}

TEST(Forwarder, LokiPushReachesTheReceiverWithLabels) {
  std::uint16_t port = 0;
  int server = Listen(SOCK_STREAM, &port);
  ASSERT_GE(server, 0);
  std::string request;
  std::thread receiver([&] {
    pollfd p{server, POLLIN, 0};
    if (::poll(&p, 1, 30000) <= 0) return;
    int c = ::accept(server, nullptr, nullptr);
    char buf[65536];
    for (int i = 0; i < 100; ++i) {
      std::size_t head = request.find("\r\n\r\n");
      if (head != std::string::npos) {
        std::size_t cl = request.find("Content-Length: ");
        std::size_t len = std::stoul(request.substr(cl + 16));
        if (request.size() >= head + 4 + len) break;
      }
      pollfd q{c, POLLIN, 0};
      if (::poll(&q, 1, 100) <= 0) continue;
      ssize_t n = ::recv(c, buf, sizeof buf, 0);
      if (n <= 0) break;
      request.append(buf, static_cast<std::size_t>(n));
    }
    std::string ok = "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n";
    (void)!::send(c, ok.data(), ok.size(), MSG_NOSIGNAL);
    ::close(c);
  });
  FakeClock clock;
  Destination d;
  d.kind = Destination::Kind::kLoki;
  d.host = "127.0.0.1";
  d.port = port;
  Forwarder f(d, clock);
  f.Start();
  f.Offer({Line(1), Line(2)});
  receiver.join();
  EXPECT_TRUE(test::WaitFor([&] { return f.sent() == 2; }, std::chrono::seconds(30)));
  f.Stop();
  ::close(server);
  ASSERT_EQ(request.rfind("POST /loki/api/v1/push HTTP/1.1\r\n", 0), 0u) << request;
  EXPECT_NE(request.find("Content-Type: application/json"), std::string::npos);
  auto body = nlohmann::json::parse(request.substr(request.find("\r\n\r\n") + 4));
  EXPECT_EQ(body["streams"][0]["stream"]["app"], "site");
  EXPECT_EQ(body["streams"][0]["values"].size(), 2u);
}

TEST(Forwarder, FileGetsJsonLines) {
  std::string dir = MakeTempDir("gravity-forward-test").value();
  FakeClock clock;
  Destination d;
  d.kind = Destination::Kind::kFile;
  d.path = dir + "/logs.jsonl";
  Forwarder f(d, clock);
  f.Start();
  f.Offer({Line(1), Line(2)});
  ASSERT_TRUE(test::WaitFor([&] { return f.sent() == 2; }, std::chrono::seconds(30)));
  f.Stop();
  auto text = ReadFile(d.path);
  ASSERT_TRUE(text.ok());
  std::size_t nl = text->find('\n');
  auto j = nlohmann::json::parse(text->substr(0, nl));
  EXPECT_EQ(j["text"], "line 1");
  EXPECT_EQ(j["instance"], "site-staging-1");
  EXPECT_EQ(std::count(text->begin(), text->end(), '\n'), 2);
  RemoveTree(dir);
}

TEST(Forwarder, AFullQueueDropsTheOldestAndCounts) {
  FakeClock clock;
  Destination d;
  d.kind = Destination::Kind::kFile;
  d.path = "/nonexistent-dir/x.jsonl";  // never writable: everything stays queued
  Forwarder f(d, clock, 10);
  f.Offer(std::vector<Entry>(25, Line(1)));  // not started: nothing taken yet
  EXPECT_EQ(f.queued(), 10u);
  EXPECT_EQ(f.dropped(), 15u);
}

}  // namespace
}  // namespace gravity::logs
