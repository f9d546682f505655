#include "common/fs.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

namespace gravity {
namespace {

TEST(Fs, AtomicWriteReplacesContentAndLeavesNoTempFile) {
  auto dir = MakeTempDir("gravity-fs-test");
  ASSERT_TRUE(dir.ok()) << dir.error();
  std::string path = *dir + "/state.json";
  ASSERT_TRUE(WriteFileAtomic(path, "one").ok());
  ASSERT_TRUE(WriteFileAtomic(path, "two", 0600).ok());
  EXPECT_EQ(ReadFile(path).value(), "two");
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  int files = 0;
  for (auto& e : std::filesystem::directory_iterator(*dir)) {
    (void)e;
    ++files;
  }
  EXPECT_EQ(files, 1);
  EXPECT_TRUE(RemoveTree(*dir).ok());
  EXPECT_FALSE(std::filesystem::exists(*dir));
}

TEST(Fs, AtomicWriteOfABareFileNameWritesInTheWorkingDirectory) {
  auto dir = MakeTempDir("gravity-fs-test");
  ASSERT_TRUE(dir.ok()) << dir.error();
  const auto previous = std::filesystem::current_path();
  std::filesystem::current_path(*dir);
  Status st = WriteFileAtomic("routes.json", "{}");
  std::filesystem::current_path(previous);
  EXPECT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(ReadFile(*dir + "/routes.json").value(), "{}");
  EXPECT_TRUE(RemoveTree(*dir).ok());
}

TEST(Fs, ReadMissingFileNamesThePath) {
  auto r = ReadFile("/nonexistent/gravity/file");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("/nonexistent/gravity/file"), std::string::npos);
}

TEST(Fs, RemoveTreeRemovesReadOnlyDirectories) {
  auto dir = MakeTempDir("gravity-fs-test");
  ASSERT_TRUE(dir.ok());
  ASSERT_TRUE(MakeDirs(*dir + "/a/b").ok());
  ASSERT_TRUE(WriteFileAtomic(*dir + "/a/b/f", "x").ok());
  ::chmod((*dir + "/a/b").c_str(), 0555);
  ::chmod((*dir + "/a").c_str(), 0555);
  EXPECT_TRUE(RemoveTree(*dir).ok());
  EXPECT_FALSE(std::filesystem::exists(*dir));
}

}  // namespace
}  // namespace gravity
