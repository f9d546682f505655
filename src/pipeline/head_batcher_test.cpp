#include "pipeline/head_batcher.h"

#include <gtest/gtest.h>

namespace gravity::pipeline {
namespace {

struct Recorder {
  std::vector<std::vector<LogLine>> batches;
  HeadLineBatcher::Sink sink() {
    return [this](const std::vector<LogLine>& lines) { batches.push_back(lines); };
  }
};

LogLine Line(const std::string& text) { return {1, text}; }

TEST(HeadLineBatcher, FlushesAtTwoHundredPendingLines) {
  FakeClock clock;
  Recorder rec;
  HeadLineBatcher b(clock, "", rec.sink());
  for (int i = 0; i < 199; ++i) b.Add(Line(std::to_string(i)));
  EXPECT_TRUE(rec.batches.empty());
  b.Add(Line("199"));
  ASSERT_EQ(rec.batches.size(), 1u);
  EXPECT_EQ(rec.batches[0].size(), 200u);
  EXPECT_EQ(rec.batches[0].front().text, "0");
  EXPECT_EQ(b.streamed(), 200u);
}

TEST(HeadLineBatcher, PollFlushesOnlyAfterMoreThan250ms) {
  FakeClock clock;
  Recorder rec;
  HeadLineBatcher b(clock, "", rec.sink());
  b.Add(Line("a"));
  clock.Advance(std::chrono::milliseconds(250));
  b.Poll();
  EXPECT_TRUE(rec.batches.empty());
  clock.Advance(std::chrono::milliseconds(1));
  b.Poll();
  ASSERT_EQ(rec.batches.size(), 1u);
  EXPECT_EQ(rec.batches[0][0].text, "a");
}

TEST(HeadLineBatcher, PollWithNothingPendingSendsNothing) {
  FakeClock clock;
  Recorder rec;
  HeadLineBatcher b(clock, "", rec.sink());
  clock.Advance(std::chrono::seconds(5));
  b.Poll();
  b.Flush();
  EXPECT_TRUE(rec.batches.empty());
  EXPECT_EQ(b.streamed(), 0u);
}

TEST(HeadLineBatcher, AFlushRestartsTheAgeWindow) {
  FakeClock clock;
  Recorder rec;
  HeadLineBatcher b(clock, "", rec.sink());
  clock.Advance(std::chrono::seconds(1));
  b.Add(Line("a"));
  b.Flush();
  b.Add(Line("b"));
  clock.Advance(std::chrono::milliseconds(200));
  b.Poll();
  EXPECT_EQ(rec.batches.size(), 1u);
  clock.Advance(std::chrono::milliseconds(51));
  b.Poll();
  EXPECT_EQ(rec.batches.size(), 2u);
}

TEST(HeadLineBatcher, PrefixesLinesAsAddedAndTheUnstreamedRest) {
  FakeClock clock;
  Recorder rec;
  HeadLineBatcher b(clock, "[t/a.sh] ", rec.sink());
  b.Add(Line("one"));
  b.Add(Line("two"));
  b.Flush();
  ASSERT_EQ(rec.batches.size(), 1u);
  EXPECT_EQ(rec.batches[0][0].text, "[t/a.sh] one");
  EXPECT_EQ(rec.batches[0][1].text, "[t/a.sh] two");
  auto rest = b.Unstreamed({Line("one"), Line("two"), Line("three"), Line("[dropped]")});
  ASSERT_EQ(rest.size(), 2u);
  EXPECT_EQ(rest[0].text, "[t/a.sh] three");
  EXPECT_EQ(rest[1].text, "[t/a.sh] [dropped]");
}

TEST(HeadLineBatcher, UnstreamedIsEmptyWhenMoreWasStreamedThanKept) {
  FakeClock clock;
  Recorder rec;
  HeadLineBatcher b(clock, "", rec.sink());
  b.Add(Line("a"));
  b.Add(Line("b"));
  b.Flush();
  EXPECT_TRUE(b.Unstreamed({Line("a")}).empty());
}

TEST(HeadLineBatcher, FeedsFromARunningCommand) {
  FakeClock clock;
  Recorder rec;
  HeadLineBatcher b(clock, "> ", rec.sink());
  CommandOptions o;
  o.command = "echo one; echo two";
  b.AttachTo(o);
  auto r = RunCommand(o);
  ASSERT_TRUE(r.ok()) << r.error();
  b.Flush();
  std::vector<std::string> texts;
  for (const auto& batch : rec.batches) {
    for (const auto& l : batch) texts.push_back(l.text);
  }
  EXPECT_EQ(texts, (std::vector<std::string>{"> one", "> two"}));
  EXPECT_TRUE(b.Unstreamed(r->log.Lines()).empty());
}

}  // namespace
}  // namespace gravity::pipeline
