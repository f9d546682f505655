#include "api/log_routes.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/server.h"
#include "common/fs.h"

namespace gravity::api {
namespace {

class LogRoutesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("gravity-log-routes").value();
    store_ = std::move(logs::LogStore::Open(dir_ + "/logs.db").value());
    ASSERT_TRUE(store_->Append({Line(1, "first", "i1"), Line(2, "second", "i2"),
                                Line(3, R"({"level":"error"})", "i1")})
                    .ok());
    AddLogRoutes(router_, *store_, clock_);
  }
  void TearDown() override {
    store_.reset();
    RemoveTree(dir_);
  }
  static logs::Entry Line(std::int64_t t, std::string text, std::string instance) {
    logs::Entry e;
    e.time_ns = t;
    e.app = "site";
    e.env = "staging";
    e.release = "abc";
    e.instance = std::move(instance);
    e.source = "app";
    e.stream = "stdout";
    e.text = std::move(text);
    return e;
  }
  Response Get(const std::string& target) {
    Request r;
    r.method = "GET";
    r.target = target;
    r.headers["host"] = "127.0.0.1";
    return router_.Handle(r);
  }
  FakeClock clock_;
  std::string dir_;
  std::unique_ptr<logs::LogStore> store_;
  Router router_;
};

TEST_F(LogRoutesTest, FiltersAndAnswersJson) {
  Response r = Get("/v1/logs?app=site&instance=i1");
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = nlohmann::json::parse(r.body);
  ASSERT_EQ(j["lines"].size(), 2u);
  EXPECT_EQ(j["lines"][0]["text"], "first");
  EXPECT_EQ(j["lines"][0]["release"], "abc");
  EXPECT_EQ(j["dropped_lines"], 0);
  j = nlohmann::json::parse(Get("/v1/logs?app=site&field=level%3Derror").body);
  ASSERT_EQ(j["lines"].size(), 1u);
  j = nlohmann::json::parse(Get("/v1/logs?app=site&n=1").body);
  ASSERT_EQ(j["lines"].size(), 1u);
  EXPECT_EQ(j["lines"][0]["time_ns"], 3);
  j = nlohmann::json::parse(Get("/v1/logs?app=site&grep=s.c").body);
  ASSERT_EQ(j["lines"].size(), 1u);
  EXPECT_EQ(j["lines"][0]["text"], "second");
}

TEST_F(LogRoutesTest, BadParametersAre400WithTheReason) {
  Response r = Get("/v1/logs?app=site&since=yesterday");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("since 'yesterday'"), std::string::npos) << r.body;
  EXPECT_EQ(Get("/v1/logs").status, 400);
  EXPECT_NE(Get("/v1/logs?app=site&bogus=1").body.find("unknown parameter 'bogus'"),
            std::string::npos);
  EXPECT_EQ(Get("/v1/logs?app=site&grep=(").status, 400);
  EXPECT_EQ(Get("/v1/logs/stream?app=site&n=x").status, 400);
}

// Reads from `fd` until `needle` arrived (bounded).
bool ReadUntil(int fd, std::string& got, const std::string& needle) {
  char buf[4096];
  for (int i = 0; i < 200 && got.find(needle) == std::string::npos; ++i) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return false;
    got.append(buf, static_cast<std::size_t>(n));
  }
  return got.find(needle) != std::string::npos;
}

TEST_F(LogRoutesTest, StreamSendsTheNewestThenNewLinesAsEvents) {
  HttpServer server(router_, ServerOptions{});
  ASSERT_TRUE(server.Start().ok());
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(server.port());
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  std::string req = "GET /v1/logs/stream?app=site&n=2 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  ASSERT_EQ(::send(fd, req.data(), req.size(), 0), static_cast<ssize_t>(req.size()));
  std::string got;
  ASSERT_TRUE(ReadUntil(fd, got, "level")) << got;
  EXPECT_NE(got.find("Content-Type: text/event-stream"), std::string::npos) << got;
  EXPECT_NE(got.find("\"text\":\"second\""), std::string::npos);
  EXPECT_EQ(got.find("\"text\":\"first\""), std::string::npos);  // n=2: the newest two
  ASSERT_TRUE(store_->Append({Line(4, "live line", "i2")}).ok());
  ASSERT_TRUE(ReadUntil(fd, got, "live line")) << got;
  EXPECT_NE(got.find("id: 4\ndata: {"), std::string::npos) << got;
  ::close(fd);
  server.Stop();
}

}  // namespace
}  // namespace gravity::api
