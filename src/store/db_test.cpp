#include "store/db.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <thread>

#include "common/fs.h"

namespace gravity::store {
namespace {

class DbTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = MakeTempDir("gravity-db-test");
    ASSERT_TRUE(dir.ok()) << dir.error();
    dir_ = *dir;
  }
  void TearDown() override { (void)RemoveTree(dir_); }
  std::string dir_;
};

TEST_F(DbTest, OpensInWalModeAndPersistsAcrossReopen) {
  std::string path = dir_ + "/state.db";
  {
    auto db = Db::Open(path);
    ASSERT_TRUE(db.ok()) << db.error();
    auto mode = (*db)->QueryOne("PRAGMA journal_mode");
    ASSERT_TRUE(mode.ok()) << mode.error();
    EXPECT_EQ((*mode)->Text(0), "wal");
    ASSERT_TRUE((*db)->Exec("CREATE TABLE t(a INTEGER, b TEXT)").ok());
    ASSERT_TRUE((*db)->Exec("INSERT INTO t VALUES(?, ?)", {std::int64_t{7}, "seven"}).ok());
  }
  auto db = Db::Open(path);
  ASSERT_TRUE(db.ok()) << db.error();
  auto rows = (*db)->Query("SELECT a, b FROM t WHERE a = ?", {std::int64_t{7}});
  ASSERT_TRUE(rows.ok()) << rows.error();
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].Int(0), 7);
  EXPECT_EQ((*rows)[0].Text(1), "seven");
}

TEST_F(DbTest, NonDatabaseFileGivesClearError) {
  std::string path = dir_ + "/junk.db";
  ASSERT_TRUE(WriteFileAtomic(path, std::string(8192, 'x') + "this is not sqlite\n").ok());
  auto db = Db::Open(path);
  ASSERT_FALSE(db.ok());
  EXPECT_NE(db.error().find(path), std::string::npos) << db.error();
  EXPECT_NE(db.error().find("not a SQLite database"), std::string::npos) << db.error();
}

TEST_F(DbTest, CorruptedHeaderGivesClearError) {
  std::string path = dir_ + "/c.db";
  {
    auto db = Db::Open(path);
    ASSERT_TRUE(db.ok()) << db.error();
    ASSERT_TRUE((*db)->Exec("PRAGMA journal_mode=DELETE; CREATE TABLE t(a)").ok());
  }
  auto content = ReadFile(path);
  ASSERT_TRUE(content.ok());
  std::string bad = *content;
  for (int i = 0; i < 16; ++i) bad[i] = 'Z';  // the magic header string
  ASSERT_TRUE(WriteFileAtomic(path, bad).ok());
  auto db = Db::Open(path);
  ASSERT_FALSE(db.ok());
  EXPECT_NE(db.error().find("not a SQLite database"), std::string::npos) << db.error();
}

TEST_F(DbTest, MissingDirectoryGivesErrorNamingPath) {
  std::string path = dir_ + "/no/such/dir/state.db";
  auto db = Db::Open(path);
  ASSERT_FALSE(db.ok());
  EXPECT_NE(db.error().find(path), std::string::npos) << db.error();
}

TEST_F(DbTest, TransactionRollsBackOnError) {
  auto db = Db::Open(dir_ + "/t.db");
  ASSERT_TRUE(db.ok());
  ASSERT_TRUE((*db)->Exec("CREATE TABLE t(a INTEGER)").ok());
  Status st = (*db)->Transaction([&]() -> Status {
    RETURN_IF_ERROR((*db)->Exec("INSERT INTO t VALUES(1)", {}));
    return Status::Error("changed my mind");
  });
  EXPECT_EQ(st.message(), "changed my mind");
  auto rows = (*db)->Query("SELECT count(*) FROM t");
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ((*rows)[0].Int(0), 0);

  ASSERT_TRUE((*db)
                  ->Transaction([&]() -> Status {
                    RETURN_IF_ERROR((*db)->Exec("INSERT INTO t VALUES(1)", {}));
                    // Nested transaction joins the outer one.
                    return (*db)->Transaction(
                        [&] { return (*db)->Exec("INSERT INTO t VALUES(2)", {}); });
                  })
                  .ok());
  rows = (*db)->Query("SELECT count(*) FROM t");
  EXPECT_EQ((*rows)[0].Int(0), 2);
}

TEST_F(DbTest, MigrationsApplyOncePerComponentAndVersion) {
  std::string path = dir_ + "/m.db";
  std::vector<std::string> pipeline_v1 = {"CREATE TABLE runs(id INTEGER PRIMARY KEY)"};
  std::vector<std::string> pipeline_v2 = {pipeline_v1[0], "ALTER TABLE runs ADD COLUMN app TEXT"};
  {
    auto db = Db::Open(path);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE((*db)->Migrate("pipeline", pipeline_v1).ok());
    ASSERT_TRUE((*db)->Migrate("pipeline", pipeline_v1).ok());  // idempotent
    ASSERT_TRUE((*db)->Migrate("deploy", {"CREATE TABLE releases(id INTEGER)"}).ok());
    EXPECT_EQ(*(*db)->SchemaVersion("pipeline"), 1);
    EXPECT_EQ(*(*db)->SchemaVersion("deploy"), 1);
    EXPECT_EQ(*(*db)->SchemaVersion("nobody"), 0);
  }
  auto db = Db::Open(path);
  ASSERT_TRUE(db.ok());
  ASSERT_TRUE((*db)->Migrate("pipeline", pipeline_v2).ok());
  EXPECT_EQ(*(*db)->SchemaVersion("pipeline"), 2);
  ASSERT_TRUE((*db)->Exec("INSERT INTO runs(app) VALUES('site')").ok());
  // An older binary refuses the newer schema.
  Status st = (*db)->Migrate("pipeline", pipeline_v1);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("version 2"), std::string::npos) << st.message();
}

TEST_F(DbTest, FailingMigrationLeavesVersionUnchanged) {
  auto db = Db::Open(dir_ + "/f.db");
  ASSERT_TRUE(db.ok());
  Status st = (*db)->Migrate("x", {"CREATE TABLE a(i)", "CREATE TABLE a(i)"});
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("'x' to version 2"), std::string::npos) << st.message();
  EXPECT_EQ(*(*db)->SchemaVersion("x"), 1);
}

TEST_F(DbTest, PreparedStatementStepsRows) {
  auto db = Db::Open(dir_ + "/p.db");
  ASSERT_TRUE(db.ok());
  ASSERT_TRUE((*db)->Exec("CREATE TABLE t(a INTEGER, b REAL, c TEXT)").ok());
  auto ins = (*db)->Prepare("INSERT INTO t VALUES(?, ?, ?)");
  ASSERT_TRUE(ins.ok()) << ins.error();
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(ins->BindAll({std::int64_t{i}, 0.5 * i, Value{}}).ok());
    ASSERT_TRUE(ins->Run().ok());
    ins->Reset();
  }
  EXPECT_EQ((*db)->LastInsertId(), 3);
  auto sel = (*db)->Prepare("SELECT a, b, c FROM t ORDER BY a");
  ASSERT_TRUE(sel.ok());
  int n = 0;
  for (;;) {
    auto more = sel->Step();
    ASSERT_TRUE(more.ok());
    if (!*more) break;
    Row row = sel->CurrentRow();
    EXPECT_EQ(row.Int(0), n);
    EXPECT_DOUBLE_EQ(row.Double(1), 0.5 * n);
    EXPECT_TRUE(row.IsNull(2));
    ++n;
  }
  EXPECT_EQ(n, 3);
  auto bad = (*db)->Prepare("SELEC nonsense");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().find("SELEC nonsense"), std::string::npos);
}

TEST_F(DbTest, TwoConnectionsWriteConcurrentlyWithBusyTimeout) {
  std::string path = dir_ + "/c.db";
  auto a = Db::Open(path);
  auto b = Db::Open(path);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE((*a)->Exec("CREATE TABLE t(who TEXT)").ok());
  auto writer = [](Db* db, const char* who) {
    for (int i = 0; i < 50; ++i) {
      Status st = db->Transaction([&] { return db->Exec("INSERT INTO t VALUES(?)", {who}); });
      ASSERT_TRUE(st.ok()) << st.message();
    }
  };
  std::thread ta(writer, a->get(), "a");
  std::thread tb(writer, b->get(), "b");
  ta.join();
  tb.join();
  auto rows = (*a)->Query("SELECT count(*) FROM t");
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ((*rows)[0].Int(0), 100);
}

}  // namespace
}  // namespace gravity::store
