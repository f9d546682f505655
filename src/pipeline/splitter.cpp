#include "pipeline/splitter.h"

#include <algorithm>
#include <utility>

namespace gravity::pipeline {

TestSplit SplitTests(const std::vector<std::string>& files,
                     const std::map<std::string, double>& history_ms, int workers) {
  if (workers < 1) workers = 1;
  double known_total = 0;
  int known = 0;
  for (const auto& f : files) {
    auto it = history_ms.find(f);
    if (it != history_ms.end()) {
      known_total += it->second;
      ++known;
    }
  }
  const double mean = known > 0 ? known_total / known : 1.0;
  std::vector<std::pair<double, std::string>> items;
  items.reserve(files.size());
  for (const auto& f : files) {
    auto it = history_ms.find(f);
    items.emplace_back(it != history_ms.end() ? it->second : mean, f);
  }
  std::sort(items.begin(), items.end(), [](const auto& a, const auto& b) {
    if (a.first != b.first) return a.first > b.first;
    return a.second < b.second;
  });
  items.erase(std::unique(items.begin(), items.end(),
                          [](const auto& a, const auto& b) { return a.second == b.second; }),
              items.end());
  TestSplit split;
  split.workers.resize(workers);
  split.expected_ms.assign(workers, 0.0);
  for (const auto& [ms, file] : items) {
    int best = 0;
    for (int w = 1; w < workers; ++w) {
      if (split.expected_ms[w] < split.expected_ms[best]) best = w;
    }
    split.workers[best].push_back(file);
    split.expected_ms[best] += ms;
  }
  return split;
}

}  // namespace gravity::pipeline
