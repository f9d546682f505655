#include "proxy/access_log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

namespace gravity::proxy {
namespace {

TEST(AccessLog, OneJsonObjectPerLineWithEveryField) {
  AccessRecord r;
  r.wall_ms = 1796119200123;  // 2026-12-01T10:00:00.123Z
  r.request_id = "abc";
  r.method = "GET";
  r.host = "www.example";
  r.path = "/a?b=\"c\"";
  r.status = 200;
  r.bytes = 42;
  r.micros = 1500;
  r.service = "site";
  r.pool = "main";
  r.target = "127.0.0.1:20001";
  std::string line;
  AppendAccessLine(r, &line);
  ASSERT_TRUE(line.ends_with("}\n"));
  auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["time"], "2026-12-01T10:00:00.123Z");
  EXPECT_EQ(j["path"], "/a?b=\"c\"");
  EXPECT_EQ(j["status"], 200);
  EXPECT_EQ(j["bytes"], 42);
  EXPECT_DOUBLE_EQ(j["duration_ms"].get<double>(), 1.5);
  EXPECT_EQ(j["target"], "127.0.0.1:20001");
  EXPECT_EQ(j["protocol"], "http/1.1");  // the default: HTTP/2 streams say "h2"
  r.protocol = "h2";
  line.clear();
  AppendAccessLine(r, &line);
  EXPECT_EQ(nlohmann::json::parse(line)["protocol"], "h2");
}

TEST(AccessLog, HostileBytesAreEscaped) {
  std::string out;
  AppendJsonString(&out, std::string("a\"b\\c\n\x01\xff", 8));
  EXPECT_EQ(out, "\"a\\\"b\\\\c\\u000a\\u0001\\u00ff\"");
  EXPECT_NO_THROW(nlohmann::json::parse(out));
}

TEST(AccessLog, BuffersAndFlushesWholeLines) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  AccessLog log(fds[1]);
  AccessRecord r;
  r.status = 204;
  log.Append(r);
  log.Append(r);
  log.Flush();
  char buf[4096];
  ssize_t n = ::read(fds[0], buf, sizeof(buf));
  ASSERT_GT(n, 0);
  std::string got(buf, static_cast<std::size_t>(n));
  EXPECT_EQ(std::count(got.begin(), got.end(), '\n'), 2);
  ::close(fds[0]);
  ::close(fds[1]);
  AccessLog off(-1);
  EXPECT_FALSE(off.enabled());
  off.Append(r);  // no effect
}

}  // namespace
}  // namespace gravity::proxy
