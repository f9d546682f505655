#include "deploy/statistics.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace gravity::deploy::stats {
namespace {

TEST(StatisticsTest, NormalCdfMatchesTheTable) {
  // Standard normal table values.
  EXPECT_NEAR(NormalCdf(0), 0.5, 1e-12);
  EXPECT_NEAR(NormalCdf(1), 0.8413447, 1e-7);
  EXPECT_NEAR(NormalCdf(1.959964), 0.975, 1e-7);
  EXPECT_NEAR(NormalCdf(2.326348), 0.99, 1e-7);
  EXPECT_NEAR(NormalCdf(-3), 0.0013499, 1e-7);
}

// P(U_x <= u) for two samples of n each whose U_x is u: y = 10, 20, ..., 10n, and the k-th
// x sits just above c_k of them, with the c_k summing to u (no two values equal).
double LowerTail(int n, int u) {
  std::vector<double> x, y;
  for (int i = 1; i <= n; ++i) y.push_back(10.0 * i);
  int left = u;
  for (int k = 0; k < n; ++k) {
    int above = std::min(n, left);
    left -= above;
    x.push_back(10.0 * above + 1 + 0.01 * k);
  }
  MannWhitney r = MannWhitneyU(FromRaw(x, y));
  EXPECT_TRUE(r.exact);
  EXPECT_DOUBLE_EQ(r.u_x, u);
  return r.p_less;
}

TEST(StatisticsTest, ExactTailsMatchPublishedCriticalValues) {
  // Two-sided alpha 0.05 critical values of U for equal samples (the standard table):
  // n=5: 2, n=8: 13, n=10: 23, n=20: 127.
  struct Row {
    int n;
    int critical;
  };
  for (Row row : {Row{5, 2}, Row{8, 13}, Row{10, 23}, Row{20, 127}}) {
    SCOPED_TRACE(row.n);
    EXPECT_LE(LowerTail(row.n, row.critical), 0.025);
    EXPECT_GT(LowerTail(row.n, row.critical + 1), 0.025);
  }
}

TEST(StatisticsTest, ExactSmallestSamples) {
  // n = 3 each: U = 0 in 1 of C(6,3) = 20 orderings.
  MannWhitney r = MannWhitneyU(FromRaw({1, 2, 3}, {4, 5, 6}));
  EXPECT_TRUE(r.exact);
  EXPECT_DOUBLE_EQ(r.u_x, 0);
  EXPECT_NEAR(r.p_less, 1.0 / 20, 1e-12);
  EXPECT_DOUBLE_EQ(r.p_greater, 1.0);
  // One observation each.
  MannWhitney one = MannWhitneyU(FromRaw({2}, {1}));
  EXPECT_DOUBLE_EQ(one.u_x, 1);
  EXPECT_NEAR(one.p_greater, 0.5, 1e-12);
}

TEST(StatisticsTest, PermeabilityExampleOneSidedExact) {
  // Hollander & Wolfe's permeability constants (a textbook example of the rank-sum test):
  // W = 35 and the exact one-sided p-value 0.1272.
  std::vector<double> x = {0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46};
  std::vector<double> y = {1.15, 0.88, 0.90, 0.74, 1.21};
  MannWhitney r = MannWhitneyU(FromRaw(x, y));
  EXPECT_TRUE(r.exact);
  EXPECT_DOUBLE_EQ(r.u_x, 35);
  EXPECT_NEAR(r.p_greater, 0.1272, 5e-5);
}

TEST(StatisticsTest, TiesUseTheCorrectedNormalApproximation) {
  // x: 1,2,2,3  y: 2,3,3,4 (worked by hand). Ranks of the 8 values: 1 -> 1; 2 (x3) -> 3;
  // 3 (x3) -> 6; 4 -> 8. R_x = 1 + 3 + 3 + 6 = 13, U_x = 13 - 10 = 3. Tie groups 3 and 3:
  // sum(t^3 - t) = 48; var = 16/12 * (9 - 48/56) = 10.857142..., z = (3 - 8)/3.295017.
  MannWhitney r = MannWhitneyU(FromRaw({1, 2, 2, 3}, {2, 3, 3, 4}));
  EXPECT_FALSE(r.exact);
  EXPECT_DOUBLE_EQ(r.u_x, 3);
  const double sd = std::sqrt(16.0 / 12.0 * (9.0 - 48.0 / 56.0));
  EXPECT_NEAR(r.z, -5 / sd, 1e-12);
  EXPECT_NEAR(r.p_less, NormalCdf((3 - 8 + 0.5) / sd), 1e-12);
  EXPECT_NEAR(r.p_less, 0.08602, 1e-4);  // Phi(-1.36570) from the table
}

TEST(StatisticsTest, HistogramCountsEqualRawSamples) {
  // The same data as per-bin counts gives the same statistic.
  TiedSamples bins{{1, 2, 1, 0}, {0, 1, 2, 1}};
  MannWhitney a = MannWhitneyU(bins);
  MannWhitney b = MannWhitneyU(FromRaw({1, 2, 2, 3}, {2, 3, 3, 4}));
  EXPECT_DOUBLE_EQ(a.u_x, b.u_x);
  EXPECT_DOUBLE_EQ(a.p_less, b.p_less);
  EXPECT_DOUBLE_EQ(a.p_greater, b.p_greater);
}

TEST(StatisticsTest, LargeShiftedSamplesAreSignificant) {
  // 1,000 observations each, every x above every y: U = n^2, p vanishingly small.
  TiedSamples s{{0, 1000}, {1000, 0}};
  MannWhitney r = MannWhitneyU(s);
  EXPECT_DOUBLE_EQ(r.u_x, 1e6);
  EXPECT_LT(r.p_greater, 1e-100);
  EXPECT_NEAR(r.p_less, 1.0, 1e-12);
}

TEST(StatisticsTest, DegenerateSamples) {
  EXPECT_DOUBLE_EQ(MannWhitneyU(TiedSamples{}).p_greater, 1);
  EXPECT_DOUBLE_EQ(MannWhitneyU(TiedSamples{{3}, {}}).p_less, 1);
  // Every observation equal: no evidence either way.
  MannWhitney same = MannWhitneyU(TiedSamples{{50}, {70}});
  EXPECT_DOUBLE_EQ(same.p_greater, 1);
  EXPECT_DOUBLE_EQ(same.p_less, 1);
}

TEST(StatisticsTest, TwoProportions) {
  // 20/100 against 10/100: pooled 0.15, se = sqrt(0.15 * 0.85 * 0.02) = 0.0504975,
  // z = 1.98030, one-sided p = 0.02384.
  TwoProportions r = TwoProportionZ(20, 100, 10, 100);
  EXPECT_NEAR(r.rate_x, 0.2, 1e-12);
  EXPECT_NEAR(r.z, 1.98030, 1e-5);
  EXPECT_NEAR(r.p_greater, 0.02384, 1e-5);
  // The other way round.
  EXPECT_NEAR(TwoProportionZ(10, 100, 20, 100).p_greater, 1 - 0.02384, 1e-5);
  // Nothing to test.
  EXPECT_DOUBLE_EQ(TwoProportionZ(0, 100, 0, 100).p_greater, 1);
  EXPECT_DOUBLE_EQ(TwoProportionZ(100, 100, 100, 100).p_greater, 1);
  EXPECT_DOUBLE_EQ(TwoProportionZ(1, 0, 0, 10).p_greater, 1);
}

}  // namespace
}  // namespace gravity::deploy::stats
