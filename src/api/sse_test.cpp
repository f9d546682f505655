#include "api/sse.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "api/server.h"

namespace gravity::api {
namespace {

using std::chrono::milliseconds;

TEST(Sse, FormatsOneDataLinePerLineAndEndsWithABlankLine) {
  EXPECT_EQ(FormatSse({"7", "line", "hello"}), "id: 7\nevent: line\ndata: hello\n\n");
  EXPECT_EQ(FormatSse({"", "", "a\nb\r\nc\rd"}), "data: a\ndata: b\ndata: c\ndata: d\n\n");
  EXPECT_EQ(FormatSse({"", "", ""}), "data: \n\n");
  EXPECT_EQ(FormatSse({"", "", "x\n"}), "data: x\n\n");
  // A line end in the id or the event name would end the field: dropped.
  EXPECT_EQ(FormatSse({"1\n2", "a\r\nb", "d"}), "id: 12\nevent: ab\ndata: d\n\n");
}

TEST(Sse, BufferRefusesWhatWouldPassItsBound) {
  SseBuffer b(64);
  EXPECT_TRUE(b.Push({"", "", std::string(30, 'x')}));  // 38 bytes
  EXPECT_FALSE(b.Push({"", "", std::string(30, 'y')}));
  EXPECT_EQ(b.size(), 38u);
  EXPECT_EQ(b.Take(), "data: " + std::string(30, 'x') + "\n\n");
  EXPECT_EQ(b.size(), 0u);
  // One event larger than the bound still goes through an empty buffer.
  EXPECT_TRUE(b.Push({"", "", std::string(100, 'z')}));
  EXPECT_FALSE(b.Push({"", "", "more"}));
}

// A raw client: the tests look at the bytes on the wire.
int Connect(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

void SendGet(int fd, const std::string& path) {
  std::string req = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  ASSERT_EQ(::send(fd, req.data(), req.size(), MSG_NOSIGNAL), static_cast<ssize_t>(req.size()));
}

// Reads until `want` appears, the peer closes, or `limit` passes; returns what was read.
std::string ReadUntil(int fd, const std::string& want, milliseconds limit, bool* closed = nullptr) {
  std::string got;
  auto end = std::chrono::steady_clock::now() + limit;
  if (closed) *closed = false;
  while (std::chrono::steady_clock::now() < end) {
    if (!want.empty() && got.find(want) != std::string::npos) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    char buf[8192];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) {
      if (closed) *closed = true;
      break;
    }
    got.append(buf, static_cast<std::size_t>(n));
  }
  return got;
}

struct StreamServer {
  Router router;
  std::unique_ptr<HttpServer> server;
  std::atomic<int> polls{0};
  std::atomic<long long> accepted_bytes{0};

  // `events` events, then the stream ends (events < 0: never ends, pushes `chunk`-sized
  // events for as long as the buffer takes them).
  StreamServer(int events, std::size_t chunk, milliseconds heartbeat, milliseconds write_timeout) {
    router.Add(
        "GET", "/stream",
        [this, events, chunk, heartbeat, write_timeout](const Request&) {
          Response r;
          r.headers.push_back({"X-Test", "yes"});
          r.stream = std::make_shared<EventStream>();
          r.stream->poll_interval = milliseconds(10);
          r.stream->heartbeat = heartbeat;
          r.stream->write_timeout = write_timeout;
          r.stream->max_buffer_bytes = 64 << 10;
          auto sent = std::make_shared<int>(0);
          r.stream->poll = [this, events, chunk, sent](SseBuffer& out) {
            ++polls;
            if (events < 0) {
              SseEvent e{"", "", std::string(chunk, 'x')};
              while (out.Push(e)) accepted_bytes += static_cast<long long>(chunk);
              return true;
            }
            if (*sent < events) {
              out.Push({std::to_string(*sent + 1), "n", "event " + std::to_string(*sent + 1)});
              ++*sent;
              return true;
            }
            return false;
          };
          return r;
        },
        Auth::kNone);
    server = std::make_unique<HttpServer>(router, ServerOptions{});
    EXPECT_TRUE(server->Start().ok());
  }
};

TEST(HttpServerStream, WritesEventsThenClosesWhenTheStreamEnds) {
  StreamServer s(3, 0, milliseconds(15000), milliseconds(30000));
  int fd = Connect(s.server->port());
  ASSERT_GE(fd, 0);
  SendGet(fd, "/stream");
  bool closed = false;
  std::string got = ReadUntil(fd, "", milliseconds(5000), &closed);
  ::close(fd);
  EXPECT_TRUE(closed);
  EXPECT_EQ(got.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << got;
  EXPECT_NE(got.find("Content-Type: text/event-stream"), std::string::npos);
  EXPECT_NE(got.find("Cache-Control: no-cache"), std::string::npos);
  EXPECT_NE(got.find("X-Test: yes"), std::string::npos);
  EXPECT_EQ(got.find("Content-Length"), std::string::npos);
  EXPECT_NE(got.find("retry: 2000\n\n"), std::string::npos);
  std::size_t a = got.find("id: 1\nevent: n\ndata: event 1\n\n");
  std::size_t c = got.find("id: 3\nevent: n\ndata: event 3\n\n");
  EXPECT_NE(a, std::string::npos) << got;
  EXPECT_NE(c, std::string::npos) << got;
  EXPECT_LT(a, c);
}

TEST(HttpServerStream, SendsHeartbeatsWhileNothingHappens) {
  // A stream with nothing to say.
  Router quiet;
  quiet.Add(
      "GET", "/quiet",
      [](const Request&) {
        Response r;
        r.stream = std::make_shared<EventStream>();
        r.stream->heartbeat = milliseconds(50);
        r.stream->poll = [](SseBuffer&) { return true; };
        return r;
      },
      Auth::kNone);
  HttpServer server(quiet, ServerOptions{});
  ASSERT_TRUE(server.Start().ok());
  int fd = Connect(server.port());
  ASSERT_GE(fd, 0);
  SendGet(fd, "/quiet");
  std::string got = ReadUntil(fd, ": heartbeat\n\n: heartbeat\n\n", milliseconds(5000));
  ::close(fd);
  EXPECT_NE(got.find(": heartbeat\n\n: heartbeat\n\n"), std::string::npos) << got;
}

TEST(HttpServerStream, StopsPollingWhenTheClientLeaves) {
  StreamServer s(1 << 30, 0, milliseconds(15000), milliseconds(30000));
  int fd = Connect(s.server->port());
  ASSERT_GE(fd, 0);
  SendGet(fd, "/stream");
  ReadUntil(fd, "event 3", milliseconds(5000));
  ::close(fd);
  // The connection thread notices the close within a poll or two.
  int before = -1;
  for (int i = 0; i < 100 && before != s.polls.load(); ++i) {
    before = s.polls.load();
    std::this_thread::sleep_for(milliseconds(100));
  }
  EXPECT_EQ(before, s.polls.load());
}

TEST(HttpServerStream, KeepsABoundedBufferForAClientThatReadsNothingAndDropsIt) {
  StreamServer s(-1, 4000, milliseconds(15000), milliseconds(300));
  int fd = Connect(s.server->port());
  ASSERT_GE(fd, 0);
  SendGet(fd, "/stream");
  // The producer offers more at every poll it is asked for; it is asked only while the
  // client's buffer has room, so once the sockets are full the polls stop.
  int seen = -1;
  for (int i = 0; i < 100 && seen != s.polls.load(); ++i) {
    seen = s.polls.load();
    std::this_thread::sleep_for(milliseconds(500));
  }
  EXPECT_EQ(seen, s.polls.load());
  EXPECT_GT(seen, 0);
  // What it could hand over is what the sockets hold plus one buffer: bounded.
  EXPECT_LT(s.accepted_bytes.load(), 16ll << 20);
  // Past write_timeout with nothing taken, the server hangs up: the client reads what
  // the sockets held, then the end.
  bool closed = false;
  std::string rest = ReadUntil(fd, "", milliseconds(10000), &closed);
  EXPECT_TRUE(closed) << rest.size() << " bytes read, accepted " << s.accepted_bytes.load();
  ::close(fd);
}

TEST(HttpServerStream, StopEndsOpenStreams) {
  StreamServer s(1 << 30, 0, milliseconds(15000), milliseconds(30000));
  int fd = Connect(s.server->port());
  ASSERT_GE(fd, 0);
  SendGet(fd, "/stream");
  ReadUntil(fd, "event 2", milliseconds(5000));
  auto t0 = std::chrono::steady_clock::now();
  s.server->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3));
  bool closed = false;
  ReadUntil(fd, "", milliseconds(3000), &closed);
  EXPECT_TRUE(closed);
  ::close(fd);
}

}  // namespace
}  // namespace gravity::api
