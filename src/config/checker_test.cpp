#include "config/checker.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/config.h"

namespace gravity::config {
namespace {

TEST(EditDistance, CountsEdits) {
  EXPECT_EQ(EditDistance("", ""), 0);
  EXPECT_EQ(EditDistance("health", "health"), 0);
  EXPECT_EQ(EditDistance("helth", "health"), 1);
  EXPECT_EQ(EditDistance("comand", "command"), 1);
  EXPECT_EQ(EditDistance("kitten", "sitting"), 3);
  EXPECT_EQ(EditDistance("", "abc"), 3);
}

TEST(Checker, EntriesKeepTheirKeyNodesAfterTheWalk) {
  // Entries copies each key node out of yaml-cpp's iterator, which yields a temporary
  // pair; the nodes must stay usable after the loop (a reference would dangle, which
  // AddressSanitizer reports as stack-use-after-scope).
  YAML::Node map = YAML::Load("alpha: 1\nbeta: 2\ngamma: 3\n");
  Checker c("f.yml", FileKind::kApp);
  std::vector<Entry> entries = c.Entries(map, "", {});
  ASSERT_EQ(entries.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(entries[i].key_node.Scalar(), entries[i].key);
    EXPECT_EQ(entries[i].key_node.Mark().line, i);
    EXPECT_EQ(entries[i].key_node.Mark().column, 0);
    EXPECT_EQ(entries[i].value.as<int>(), i + 1);
  }
  EXPECT_TRUE(c.ok());
}

TEST(Checker, ErrorsAreSortedByPositionAndEscaped) {
  Checker c("f.yml", FileKind::kStack);
  YAML::Mark late, early;
  late.line = 4;
  late.column = 2;
  early.line = 0;
  early.column = 7;
  c.Error(late, "a.b", "second");
  c.Error(early, "", "first\tline");
  c.Error(YAML::Mark::null_mark(), "", "no position");
  EXPECT_EQ(c.ToStatus().message(),
            "f.yml: no position\nf.yml:1:8: first\\tline\nf.yml:5:3: a.b: second");
}

TEST(Checker, UnknownKeysGetAHintASuggestionOrTheKnownKeys) {
  YAML::Node map = YAML::Load("{branch: m, helth: 1, zzz: 2}");
  Checker c("gravity.yml", FileKind::kApp);
  EXPECT_TRUE(c.Entries(map, "", {"health", "run"}).empty());
  EXPECT_EQ(c.ToStatus().message(),
            "gravity.yml:1:2: unknown key 'branch' here; it belongs in stack.yml, which "
            "describes environments\n"
            "gravity.yml:1:13: unknown key 'helth'; did you mean 'health'?\n"
            "gravity.yml:1:23: unknown key 'zzz' (known keys: health, run)");
}

TEST(Suggest, OnlyCloseNamesAreSuggested) {
  EXPECT_EQ(Suggest("Health", {"health", "run"}), "health");
  EXPECT_EQ(Suggest("rn", {"health", "run"}), "run");
  EXPECT_EQ(Suggest("xyz", {"health", "run"}), "");
  EXPECT_EQ(Suggest("intervall", {"interval", "timeout"}), "interval");
}

}  // namespace
}  // namespace gravity::config
