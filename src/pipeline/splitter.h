#pragma once

#include <map>
#include <string>
#include <vector>

namespace gravity::pipeline {

struct TestSplit {
  std::vector<std::vector<std::string>> workers;  // files per worker, in run order
  std::vector<double> expected_ms;                // expected busy time per worker
};

// Splits test files across `workers` (>= 1). Each file's expected duration comes from
// `history_ms`; files never timed get the mean of the known ones (1 when none is known).
// Longest first, each onto the least-loaded worker (lowest index on a tie); equal
// durations are taken in name order, so the split is deterministic.
TestSplit SplitTests(const std::vector<std::string>& files,
                     const std::map<std::string, double>& history_ms, int workers);

}  // namespace gravity::pipeline
