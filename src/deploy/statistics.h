#pragma once

// The statistics the canary judge uses, written out so that each number in a verdict can
// be checked by hand (docs/deploy.md, "How a canary is judged").
// Thread-safety: pure functions.

#include <cstdint>
#include <vector>

namespace gravity::deploy::stats {

// The standard normal distribution function, Phi(z).
double NormalCdf(double z);

// Two samples summarized as counts over the same ordered values (a histogram with shared
// bins, or the distinct values of two raw samples): x[i] and y[i] observations equal to the
// i-th value, values ascending. Ties are exactly the observations that share a value.
struct TiedSamples {
  std::vector<std::uint64_t> x;
  std::vector<std::uint64_t> y;
};

// Raw samples to TiedSamples (each distinct value one entry).
TiedSamples FromRaw(const std::vector<double>& x, const std::vector<double>& y);

struct MannWhitney {
  std::uint64_t n_x = 0;
  std::uint64_t n_y = 0;
  double u_x = 0;      // pairs (x, y) with x > y, plus half the ties
  double z = 0;        // normal approximation with tie and continuity correction
  double p_greater = 1;  // P-value of "x tends to be larger than y" (one-sided)
  double p_less = 1;     // P-value of "x tends to be smaller than y"
  bool exact = false;    // p-values from the exact distribution (small samples, no ties)
};

// The Mann-Whitney U test of x against y. Exact p-values when both samples have at most
// kExactLimit observations and there are no ties; otherwise the normal approximation with
// the tie correction of the variance and a continuity correction of 0.5. Either sample
// empty: p-values 1.
inline constexpr std::uint64_t kExactLimit = 50;
MannWhitney MannWhitneyU(const TiedSamples& s);

struct TwoProportions {
  double rate_x = 0;
  double rate_y = 0;
  double z = 0;            // (rate_x - rate_y) / pooled standard error
  double p_greater = 1;    // P-value of "x's rate is higher than y's" (one-sided)
};

// The two-proportion z-test (pooled variance): k_x of n_x against k_y of n_y. With a
// pooled rate of 0 or 1, or an empty sample, no difference can be shown: z 0, p 1.
TwoProportions TwoProportionZ(std::uint64_t k_x, std::uint64_t n_x, std::uint64_t k_y,
                              std::uint64_t n_y);

}  // namespace gravity::deploy::stats
