#include "runtime/logs.h"

#include <gtest/gtest.h>

#include "common/fs.h"
#include "runtime/instance_wrapper.h"
#include "runtime/ports.h"

namespace gravity::runtime {
namespace {

TEST(InstanceLog, FormattedLineParsesBack) {
  auto t = std::chrono::system_clock::from_time_t(1738324800) + std::chrono::milliseconds(123);
  std::string line = FormatLogLine(t, "err", "boom: it broke");
  EXPECT_EQ(line, "2025-01-31T12:00:00.123Z err boom: it broke");
  auto parsed = ParseLogLine(line);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->time, t);
  EXPECT_EQ(parsed->stream, "err");
  EXPECT_EQ(parsed->text, "boom: it broke");
  EXPECT_FALSE(ParseLogLine("not a log line at all, no"));
}

TEST(InstanceLog, SplitLinesKeepsPartialLinesAndCutsLongOnes) {
  std::string pending;
  std::vector<std::string> out;
  auto emit = [&](std::string_view l) { out.emplace_back(l); };
  SplitLines(pending, "one\ntw", 8, emit);
  EXPECT_EQ(out, (std::vector<std::string>{"one"}));
  EXPECT_EQ(pending, "tw");
  SplitLines(pending, "o\r\nthree\n", 8, emit);
  EXPECT_EQ(out, (std::vector<std::string>{"one", "two", "three"}));
  SplitLines(pending, "0123456789abcdefXY", 8, emit);
  EXPECT_EQ(out.back(), "89abcdef");
  EXPECT_EQ(pending, "XY");
}

TEST(InstanceLog, TailAndLastExit) {
  auto dir = MakeTempDir("gravity-logs-test").value();
  std::string path = dir + "/i.log";
  auto t = std::chrono::system_clock::now();
  std::string content;
  content += FormatLogLine(t, "gravity", "started pid 10") + "\n";
  content += FormatLogLine(t, "out", "hello") + "\n";
  content += FormatLogLine(t, "gravity", "exited with status 3") + "\n";
  content += FormatLogLine(t, "gravity", "started pid 11") + "\n";
  content += FormatLogLine(t, "err", "bad") + "\n";
  ASSERT_TRUE(WriteFileAtomic(path, content).ok());
  EXPECT_EQ(LastExitFromLog(path), "");  // the latest process has not ended
  ASSERT_TRUE(WriteFileAtomic(
                  path, content + FormatLogLine(t, "gravity", "killed by signal 9 (Killed)") + "\n")
                  .ok());
  EXPECT_EQ(LastExitFromLog(path), "killed by signal 9 (Killed)");
  auto tail = TailLines(path, 2);
  ASSERT_TRUE(tail.ok());
  ASSERT_EQ(tail->size(), 2u);
  EXPECT_NE((*tail)[0].find("err bad"), std::string::npos);
  EXPECT_FALSE(TailLines(dir + "/missing.log", 2).ok());
  RemoveTree(dir);
}

TEST(PortAllocator, SkipsHeldAndBoundPortsAndRotates) {
  int base = FreePortRun(3);
  PortAllocator ports(base, base + 2, /*seed=*/3);  // starts at base
  auto a = ports.Allocate();
  auto b = ports.Allocate();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, *b);
  ports.Release(*a);
  auto c = ports.Allocate();
  ASSERT_TRUE(c.ok());
  EXPECT_NE(*c, *a);  // a just-released port is not handed out again at once
  auto d = ports.Allocate();
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d, *a);  // ... but it is when the range comes round
  EXPECT_FALSE(ports.Allocate().ok());
}

}  // namespace
}  // namespace gravity::runtime
