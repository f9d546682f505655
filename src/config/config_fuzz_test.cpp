#include <gtest/gtest.h>

#include <random>

#include "config/config.h"
#include "config/config_test_util.h"

namespace gravity::config {
namespace {

// Hostile input: random edits of valid files never crash the parser, and every error line
// names the file (with a position whenever the problem has one).
TEST(ConfigFuzz, MutatedFilesGiveErrorsNotCrashes) {
  std::mt19937 rng(12345);  // fixed seed: the same cases every run
  const std::string alphabet = " \t\n:{}[]-*&!|>'\"#%@,?0123456789abcxyz";
  auto mutate = [&](std::string s) {
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < edits && !s.empty(); ++i) {
      size_t pos = rng() % s.size();
      switch (rng() % 3) {
        case 0:
          s[pos] = alphabet[rng() % alphabet.size()];
          break;
        case 1:
          s.insert(pos, 1, alphabet[rng() % alphabet.size()]);
          break;
        default:
          s.erase(pos, 1 + rng() % 8);
          break;
      }
    }
    return s;
  };
  auto check_lines = [](const std::string& errors, const std::string& file) {
    size_t start = 0;
    while (start < errors.size()) {
      size_t end = errors.find('\n', start);
      std::string line = errors.substr(start, end == std::string::npos ? end : end - start);
      EXPECT_EQ(line.rfind(file + ":", 0), 0u) << line;
      if (end == std::string::npos) break;
      start = end + 1;
    }
  };
  int refused = 0;
  for (int i = 0; i < 1500; ++i) {
    std::string app = mutate(testing_util::kFullApp);
    auto a = ParseAppSpec(app);
    if (!a.ok()) {
      ++refused;
      check_lines(a.error(), "gravity.yml");
    }
    std::string stack = mutate(
        "apps:\n  site:\n    repo: ./site.git\n    environments:\n"
        "      staging: {branch: staging, instances: 2, env: {A: b}}\n"
        "      production:\n        promote_from: staging\n        host: www.localhost\n");
    auto s = ParseStackSpec(stack, "/nonexistent/stack.yml");
    if (!s.ok()) {
      ++refused;
      check_lines(s.error(), "/nonexistent/stack.yml");
    }
  }
  EXPECT_GT(refused, 100);  // the mutations do produce invalid files
}

}  // namespace
}  // namespace gravity::config
