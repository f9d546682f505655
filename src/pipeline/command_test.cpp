#include "pipeline/command.h"

#include <gtest/gtest.h>
#include <signal.h>

#include "common/fs.h"
#include "common/process.h"

namespace gravity::pipeline {
namespace {

TEST(RunCommand, CapturesLinesWithTimestampsAndExitStatus) {
  CommandOptions o;
  o.command = "echo one; echo two >&2; printf 'three'; exit 3";
  auto r = RunCommand(o);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_FALSE(r->ok);
  EXPECT_EQ(r->Describe(), "exited with status 3");
  auto lines = r->log.Lines();
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0].text, "one");
  EXPECT_EQ(lines[1].text, "two");
  EXPECT_EQ(lines[2].text, "three");
  EXPECT_GT(lines[0].time_ms, 1600000000000);
}

TEST(RunCommand, HeadLinesAreReportedAsTheyArriveAndTheRestAtTheEnd) {
  CommandOptions o;
  o.command = "i=0; while [ $i -lt 300 ]; do echo line$i; i=$((i+1)); done";
  o.head_bytes = 100;
  o.tail_bytes = 100;
  std::vector<std::string> live;
  o.on_head_line = [&](const LogLine& l) { live.push_back(l.text); };
  auto r = RunCommand(o);
  ASSERT_TRUE(r.ok());
  auto lines = r->log.Lines();
  ASSERT_EQ(live.size(), r->log.head_lines());
  ASSERT_GT(live.size(), 5u);
  for (std::size_t i = 0; i < live.size(); ++i) EXPECT_EQ(live[i], lines[i].text);
  EXPECT_NE(lines[live.size()].text.find("dropped"), std::string::npos);
}

TEST(RunCommand, RunsInCwdWithEnv) {
  auto dir = MakeTempDir("gravity-cmd");
  ASSERT_TRUE(dir.ok());
  CommandOptions o;
  o.command = "pwd; echo \"$GREETING\"";
  o.cwd = *dir;
  o.env = {{"GREETING", "hello there"}};
  auto r = RunCommand(o);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->ok) << r->Describe();
  auto lines = r->log.Lines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].text, *dir);
  EXPECT_EQ(lines[1].text, "hello there");
  RemoveTree(*dir);
}

TEST(RunCommand, TimeoutKillsTheWholeProcessGroup) {
  auto dir = MakeTempDir("gravity-cmd");
  ASSERT_TRUE(dir.ok());
  std::string pidfile = *dir + "/child.pid";
  CommandOptions o;
  // A grandchild that ignores TERM and holds the output pipe.
  o.command = "sh -c 'trap \"\" TERM; echo $$ > " + pidfile +
              "; while :; do sleep 1; done' & echo started; wait";
  o.timeout = std::chrono::milliseconds(500);
  auto r = RunCommand(o);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->timed_out);
  EXPECT_FALSE(r->ok);
  EXPECT_EQ(r->Describe(), "timed out after 500ms (process group killed)");
  auto pid = ReadFile(pidfile);
  ASSERT_TRUE(pid.ok());
  EXPECT_FALSE(ProcessAlive(std::stoi(*pid)));
  RemoveTree(*dir);
}

TEST(RunCommand, LeftoverBackgroundProcessesAreKilledWhenTheShellExits) {
  auto dir = MakeTempDir("gravity-cmd");
  ASSERT_TRUE(dir.ok());
  std::string pidfile = *dir + "/bg.pid";
  CommandOptions o;
  o.command = "sleep 300 > /dev/null 2>&1 & echo $! > " + pidfile + "; echo done";
  auto r = RunCommand(o);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->ok) << r->Describe();
  auto pid = ReadFile(pidfile);
  ASSERT_TRUE(pid.ok());
  EXPECT_FALSE(ProcessAlive(std::stoi(*pid)));
  RemoveTree(*dir);
}

TEST(RunCommand, HugeOutputKeepsHeadAndTailAndSaysWhatWasDropped) {
  CommandOptions o;
  o.command = "i=0; while [ $i -lt 20000 ]; do echo line$i; i=$((i+1)); done";
  o.head_bytes = 1000;
  o.tail_bytes = 1000;
  auto r = RunCommand(o);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->ok);
  EXPECT_EQ(r->log.total_lines(), 20000u);
  EXPECT_GT(r->log.dropped_lines(), 19000u);
  auto lines = r->log.Lines();
  EXPECT_EQ(lines.front().text, "line0");
  EXPECT_EQ(lines.back().text, "line19999");
  bool marker = false;
  for (const auto& l : lines) {
    if (l.text.find("lines (") != std::string::npos && l.text.find("dropped") != std::string::npos)
      marker = true;
  }
  EXPECT_TRUE(marker);
}

TEST(RunCommand, CancelStopsTheCommand) {
  std::atomic<bool> cancel{true};
  CommandOptions o;
  o.command = "sleep 300";
  o.cancel = &cancel;
  auto r = RunCommand(o);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->cancelled);
  EXPECT_FALSE(r->ok);
}

TEST(BoundedLog, CutsOverlongLines) {
  BoundedLog log(100000, 100000, 10);
  log.Add({1, std::string(25, 'x')});
  auto lines = log.Lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].text.substr(0, 10), std::string(10, 'x'));
  EXPECT_NE(lines[0].text.find("15 bytes cut"), std::string::npos);
}

}  // namespace
}  // namespace gravity::pipeline
