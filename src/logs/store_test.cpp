#include "logs/store.h"

#include <gtest/gtest.h>

#include "common/fs.h"

namespace gravity::logs {
namespace {

class LogStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("gravity-logstore-test").value();
    auto s = LogStore::Open(dir_ + "/logs.db");
    ASSERT_TRUE(s.ok()) << s.error();
    store_ = std::move(*s);
  }
  void TearDown() override {
    store_.reset();
    RemoveTree(dir_);
  }
  static Entry Line(std::int64_t t, std::string text, std::string instance = "i1",
                    std::string app = "site") {
    Entry e;
    e.time_ns = t;
    e.app = std::move(app);
    e.env = "staging";
    e.release = "abcdef1234";
    e.instance = std::move(instance);
    e.source = "app";
    e.stream = "stdout";
    e.text = std::move(text);
    return e;
  }
  std::string dir_;
  std::unique_ptr<LogStore> store_;
};

TEST_F(LogStoreTest, QueryMergesByTimeAndFilters) {
  ASSERT_TRUE(store_->Append({Line(30, "c", "i2"), Line(10, "a", "i1"), Line(20, "b", "i2")}).ok());
  Filter f;
  f.app = "site";
  auto all = store_->Query(f);
  ASSERT_TRUE(all.ok()) << all.error();
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].text, "a");
  EXPECT_EQ((*all)[1].text, "b");
  EXPECT_EQ((*all)[2].text, "c");
  EXPECT_EQ((*all)[1].instance, "i2");
  EXPECT_EQ((*all)[1].release, "abcdef1234");
  f.instance = "i2";
  EXPECT_EQ(store_->Query(f)->size(), 2u);
  f.instance.clear();
  f.since_ns = 20;
  EXPECT_EQ(store_->Query(f)->size(), 2u);
  f.until_ns = 30;
  EXPECT_EQ(store_->Query(f)->size(), 1u);
  f = Filter{};
  f.app = "site";
  f.release = "abc";
  EXPECT_EQ(store_->Query(f)->size(), 3u);
  f.release = "abd";
  EXPECT_EQ(store_->Query(f)->size(), 0u);
  f = Filter{};
  f.app = "site";
  f.limit = 2;
  auto newest = store_->Query(f);
  ASSERT_EQ(newest->size(), 2u);
  EXPECT_EQ((*newest)[0].text, "b");
  EXPECT_EQ((*newest)[1].text, "c");
  f.app = "other";
  EXPECT_EQ(store_->Query(f)->size(), 0u);
}

TEST_F(LogStoreTest, RequestIdFindsProxyAndAppLinesOnly) {
  Entry proxy = Line(5, R"({"request_id":"0123456789abcdef0123456789abcdef","status":200})");
  proxy.source = "proxy";
  proxy.request_id = "0123456789abcdef0123456789abcdef";
  ASSERT_TRUE(store_
                  ->Append({proxy, Line(6, "GET / request_id=0123456789abcdef0123456789abcdef"),
                            Line(7, "GET / request_id=0123456789abcdef0123456789abcdee"),
                            Line(8, "unrelated")})
                  .ok());
  Filter f;
  f.app = "site";
  f.request_id = "0123456789abcdef0123456789abcdef";
  auto r = store_->Query(f);
  ASSERT_TRUE(r.ok()) << r.error();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].source, "proxy");
  EXPECT_EQ((*r)[0].request_id, "0123456789abcdef0123456789abcdef");
  EXPECT_EQ((*r)[1].source, "app");
  // A quote in the id is a phrase character, not FTS syntax.
  f.request_id = "a\"b OR c";
  EXPECT_TRUE(store_->Query(f).ok());
}

TEST_F(LogStoreTest, ContainsAndJsonFields) {
  ASSERT_TRUE(store_
                  ->Append({Line(1, R"({"level":"error","user":{"id":7}})"),
                            Line(2, R"({"level":"info","user":{"id":8}})"), Line(3, "not json")})
                  .ok());
  Filter f;
  f.app = "site";
  f.fields = {{"level", "error"}};
  auto r = store_->Query(f);
  ASSERT_TRUE(r.ok()) << r.error();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].time_ns, 1);
  f.fields = {{"user.id", "8"}};
  ASSERT_EQ(store_->Query(f)->size(), 1u);
  f.fields.clear();
  f.contains = "json";
  ASSERT_EQ(store_->Query(f)->size(), 1u);
}

TEST_F(LogStoreTest, OffsetsCommitWithLinesOrNotAtAll) {
  Status failed = store_->Write([&](WriteBatch& b) {
    RETURN_IF_ERROR(b.Add(Line(1, "lost")));
    RETURN_IF_ERROR(b.SetOffset("f", 42, 100));
    return Status::Error("disk on fire");
  });
  EXPECT_FALSE(failed.ok());
  Filter f;
  f.app = "site";
  EXPECT_EQ(store_->Query(f)->size(), 0u);
  ASSERT_TRUE(store_
                  ->Write([&](WriteBatch& b) {
                    EXPECT_FALSE(b.Offset("f", 42).has_value());
                    RETURN_IF_ERROR(b.Add(Line(1, "kept")));
                    return b.SetOffset("f", 42, 100);
                  })
                  .ok());
  ASSERT_TRUE(store_
                  ->Write([&](WriteBatch& b) {
                    EXPECT_EQ(b.Offset("f", 42), 100);
                    EXPECT_FALSE(b.Offset("f", 43).has_value());
                    return b.ForgetOffsetsExcept({});
                  })
                  .ok());
  ASSERT_TRUE(store_->Write([&](WriteBatch& b) {
                      EXPECT_FALSE(b.Offset("f", 42).has_value());
                      return Status::Ok();
                    }).ok());
  EXPECT_EQ(store_->Query(f)->size(), 1u);
  EXPECT_EQ(store_->Usage("site")->lines, 1);
}

TEST_F(LogStoreTest, RetentionBySizeKeepsNewestAndCountsDropped) {
  std::vector<Entry> lines;
  for (int i = 0; i < 1000; ++i) lines.push_back(Line(i, std::string(100, 'x') + std::to_string(i)));
  ASSERT_TRUE(store_->Append(lines).ok());
  ASSERT_TRUE(store_->Append({Line(5, "other app", "i1", "api")}).ok());
  auto before = store_->Usage("site");
  ASSERT_EQ(before->lines, 1000);
  Retention r;
  r.max_bytes = 50000;
  r.max_age_ns = 0;
  auto report = store_->Retain(r, {{"api", Retention{}}}, 2000);
  ASSERT_TRUE(report.ok()) << report.error();
  auto after = store_->Usage("site");
  EXPECT_LE(after->bytes, 50000);
  EXPECT_GT(after->lines, 200);
  EXPECT_EQ(after->lines + after->dropped_lines, 1000);
  EXPECT_EQ(report->dropped_lines.at("site"), after->dropped_lines);
  EXPECT_EQ(report->dropped_lines.count("api"), 0u);
  Filter f;
  f.app = "site";
  auto kept = store_->Query(f);
  ASSERT_EQ(static_cast<std::int64_t>(kept->size()), after->lines);
  EXPECT_EQ(kept->back().time_ns, 999);                     // the newest stay
  EXPECT_EQ(kept->front().time_ns, 1000 - after->lines);    // the oldest went
  // The FTS index forgot the dropped lines too.
  f.request_id = "x0";
  f.contains.clear();
  EXPECT_EQ(store_->Query(f)->size(), 0u);
  EXPECT_EQ(store_->Usage("api")->lines, 1);
}

TEST_F(LogStoreTest, RetentionByAge) {
  ASSERT_TRUE(store_->Append({Line(100, "old"), Line(900, "new")}).ok());
  Retention r;
  r.max_age_ns = 500;
  auto report = store_->Retain(r, {}, 1000);
  ASSERT_TRUE(report.ok());
  Filter f;
  f.app = "site";
  auto kept = store_->Query(f);
  ASSERT_EQ(kept->size(), 1u);
  EXPECT_EQ((*kept)[0].text, "new");
  EXPECT_EQ(store_->Usage("site")->dropped_lines, 1);
}

TEST_F(LogStoreTest, ReopenKeepsEverythingAndRefusesNonDatabases) {
  ASSERT_TRUE(store_->Append({Line(1, "persisted")}).ok());
  store_.reset();
  auto again = LogStore::Open(dir_ + "/logs.db");
  ASSERT_TRUE(again.ok()) << again.error();
  Filter f;
  f.app = "site";
  EXPECT_EQ((*again)->Query(f)->size(), 1u);
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/junk.db", std::string(8192, 'j')).ok());
  auto junk = LogStore::Open(dir_ + "/junk.db");
  ASSERT_FALSE(junk.ok());
  EXPECT_NE(junk.error().find("junk.db"), std::string::npos) << junk.error();
}

}  // namespace
}  // namespace gravity::logs
