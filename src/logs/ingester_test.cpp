#include "logs/ingester.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>

#include "common/fs.h"
#include "runtime/instance_wrapper.h"

namespace gravity::logs {
namespace {

namespace fs = std::filesystem;

class IngesterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("gravity-ingest-test").value();
    auto s = LogStore::Open(dir_ + "/logs.db");
    ASSERT_TRUE(s.ok()) << s.error();
    store_ = std::move(*s);
    fs::create_directories(dir_ + "/logs/site/staging/abc123");
    ingester_ = std::make_unique<Ingester>(*store_, dir_ + "/logs", dir_ + "/access.log", clock_);
  }
  void TearDown() override {
    ingester_.reset();
    store_.reset();
    RemoveTree(dir_);
  }
  void Append(const std::string& rel, const std::string& bytes) {
    int fd = ::open((dir_ + "/" + rel).c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
    ::close(fd);
  }
  static std::string L(int ms, const std::string& stream, const std::string& text) {
    return runtime::FormatLogLine(
               std::chrono::system_clock::time_point(std::chrono::milliseconds(ms)), stream,
               text) +
           "\n";
  }
  std::vector<Entry> All() {
    Filter f;
    f.app = "site";
    auto r = store_->Query(f);
    EXPECT_TRUE(r.ok()) << r.error();
    return r.ok() ? *r : std::vector<Entry>{};
  }
  FakeClock clock_;
  std::string dir_;
  std::unique_ptr<LogStore> store_;
  std::unique_ptr<Ingester> ingester_;
};

TEST_F(IngesterTest, TakesCompleteLinesOnceWithTheirInstanceAndRelease) {
  const std::string log = "logs/site/staging/abc123/site-staging-1.log";
  Append(log, L(1000, "gravity", "started pid 1") + L(1001, "out", "hello") +
                  L(1002, "err", "oops") + "2026-01-01T00:00:00.000Z out parti");
  auto s = ingester_->RunOnce();
  ASSERT_TRUE(s.ok()) << s.error();
  EXPECT_EQ(s->lines, 3u);
  auto all = All();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[1].text, "hello");
  EXPECT_EQ(all[1].stream, "stdout");
  EXPECT_EQ(all[2].stream, "stderr");
  EXPECT_EQ(all[1].instance, "site-staging-1");
  EXPECT_EQ(all[1].release, "abc123");
  EXPECT_EQ(all[1].env, "staging");
  EXPECT_EQ(all[1].time_ns, std::int64_t{1001} * 1000000);
  // Nothing new: nothing added; the partial line completes later.
  EXPECT_EQ(ingester_->RunOnce()->lines, 0u);
  Append(log, "al\n");
  EXPECT_EQ(ingester_->RunOnce()->lines, 1u);
  all = All();
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all.back().text, "partial");
}

TEST_F(IngesterTest, FollowsRotationWithoutLosingOrDoubling) {
  const std::string log = "logs/site/staging/abc123/i1.log";
  Append(log, L(1, "out", "one") + L(2, "out", "two"));
  ASSERT_TRUE(ingester_->RunOnce().ok());
  // Written after the last pass, then rotated away, then the new file begins.
  Append(log, L(3, "out", "three"));
  fs::rename(dir_ + "/" + log, dir_ + "/" + log + ".1");
  Append(log, L(4, "out", "four"));
  ASSERT_TRUE(ingester_->RunOnce().ok());
  Append(log, L(5, "out", "five"));
  ASSERT_TRUE(ingester_->RunOnce().ok());
  auto all = All();
  std::vector<std::string> texts;
  for (const auto& e : all) texts.push_back(e.text);
  EXPECT_EQ(texts, (std::vector<std::string>{"one", "two", "three", "four", "five"}));
}

TEST_F(IngesterTest, AFreshStoreReadsTheRotatedFileFirst) {
  const std::string log = "logs/site/staging/abc123/i1.log";
  Append(log + ".1", L(1, "out", "old"));
  Append(log, L(2, "out", "new"));
  ASSERT_TRUE(ingester_->RunOnce().ok());
  auto all = All();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_LT(all[0].id, all[1].id);
  EXPECT_EQ(all[0].text, "old");
}

TEST_F(IngesterTest, AccessLogLinesCarryTheRequest) {
  Append("access.log",
         R"({"time":"2026-01-31T12:00:00.250Z","request_id":"feedbeef","method":"GET","host":"x","path":"/a?b","status":503,"bytes":0,"duration_ms":1.500,"service":"site.staging","pool":"main","target":"127.0.0.1:20001","protocol":"http/1.1"})"
         "\nnot json at all\n");
  ASSERT_TRUE(ingester_->RunOnce().ok());
  auto all = All();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].source, "proxy");
  EXPECT_EQ(all[0].env, "staging");
  EXPECT_EQ(all[0].instance, "127.0.0.1:20001");
  EXPECT_EQ(all[0].request_id, "feedbeef");
  EXPECT_EQ(all[0].status, 503);
  EXPECT_EQ(all[0].duration_us, 1500);
  EXPECT_EQ(all[0].method, "GET");
  // The line that is not an access record is kept, under "-".
  Filter f;
  f.app = "-";
  EXPECT_EQ(store_->Query(f)->size(), 1u);
}

TEST_F(IngesterTest, HostileBytesAreStoredCleaned) {
  const std::string log = "logs/site/staging/abc123/i1.log";
  std::string nul("a\0b", 3);
  Append(log, L(1, "out", nul) + L(2, "out", "\xff\xfe") + L(3, "out", "\x1b[31mred") +
                  L(4, "out", std::string(200000, 'z')) + "garbage without a timestamp\n");
  ASSERT_TRUE(ingester_->RunOnce().ok());
  auto all = All();
  ASSERT_EQ(all.size(), 5u);
  EXPECT_EQ(all[0].text, "a\xef\xbf\xbd" "b");
  EXPECT_EQ(all[1].text, "\xef\xbf\xbd\xef\xbf\xbd");
  EXPECT_EQ(all[2].text, "\x1b[31mred");
  EXPECT_EQ(all[3].text.size(), kMaxText + kCutMarker.size());
  EXPECT_EQ(all[4].text, "garbage without a timestamp");
  EXPECT_EQ(all[4].time_ns, all[3].time_ns);  // the time of the line before
}

TEST_F(IngesterTest, ATruncatedFileIsReadFromItsStart) {
  const std::string log = "logs/site/staging/abc123/i1.log";
  Append(log, L(1, "out", "one") + L(2, "out", "two"));
  ASSERT_TRUE(ingester_->RunOnce().ok());
  ::truncate((dir_ + "/" + log).c_str(), 0);
  Append(log, L(3, "out", "3"));
  ASSERT_TRUE(ingester_->RunOnce().ok());
  EXPECT_EQ(All().size(), 3u);
}

TEST(ParseInstanceLine, RejectsOtherFormats) {
  Entry e;
  EXPECT_FALSE(ParseInstanceLine("", &e));
  EXPECT_FALSE(ParseInstanceLine("2026-01-31 12:00:00.123Z out x", &e));
  EXPECT_FALSE(ParseInstanceLine("2026-0a-31T12:00:00.123Z out x", &e));
  EXPECT_TRUE(ParseInstanceLine("2026-01-31T12:00:00.123Z out", &e));
  EXPECT_EQ(e.text, "");
}

}  // namespace
}  // namespace gravity::logs
