#include "deploy/statistics.h"

#include <algorithm>
#include <cmath>
#include <map>

namespace gravity::deploy::stats {

namespace {

// P(Z > z) without the cancellation of 1 - Phi(z) for large z.
double NormalUpper(double z) { return 0.5 * std::erfc(z / std::sqrt(2.0)); }

// The exact null distribution of U_x for sample sizes m (x) and n (y), as the number of
// orderings giving each U (u = 0 .. m*n), by the recurrence over the last observation: a y
// adds nothing to U_x, an x adds one for each of the y before it.
std::vector<double> ExactCounts(std::uint64_t m, std::uint64_t n) {
  const std::size_t width = static_cast<std::size_t>(m * n + 1);
  // layer[j][u]: orderings of j x's and i y's (i the outer loop) with U_x = u.
  std::vector<std::vector<double>> prev(m + 1, std::vector<double>(width, 0.0));
  for (std::size_t j = 0; j <= m; ++j) prev[j][0] = 1;  // i = 0: every x first, U = 0
  for (std::uint64_t i = 1; i <= n; ++i) {
    std::vector<std::vector<double>> cur(m + 1, std::vector<double>(width, 0.0));
    cur[0][0] = 1;
    for (std::size_t j = 1; j <= m; ++j) {
      for (std::size_t u = 0; u < width; ++u) {
        double v = prev[j][u];                 // last observation a y
        if (u >= i) v += cur[j - 1][u - i];    // last observation an x, above i y's
        cur[j][u] = v;
      }
    }
    prev.swap(cur);
  }
  return prev[m];
}

}  // namespace

double NormalCdf(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }

TiedSamples FromRaw(const std::vector<double>& x, const std::vector<double>& y) {
  std::map<double, std::pair<std::uint64_t, std::uint64_t>> by_value;
  for (double v : x) ++by_value[v].first;
  for (double v : y) ++by_value[v].second;
  TiedSamples s;
  for (const auto& [value, counts] : by_value) {
    s.x.push_back(counts.first);
    s.y.push_back(counts.second);
  }
  return s;
}

MannWhitney MannWhitneyU(const TiedSamples& s) {
  MannWhitney r;
  double below_y = 0;
  double tie_term = 0;  // sum of t^3 - t over tie groups
  bool ties = false;
  for (std::size_t i = 0; i < std::max(s.x.size(), s.y.size()); ++i) {
    const double nx = i < s.x.size() ? static_cast<double>(s.x[i]) : 0.0;
    const double ny = i < s.y.size() ? static_cast<double>(s.y[i]) : 0.0;
    r.u_x += nx * (below_y + 0.5 * ny);
    below_y += ny;
    r.n_x += static_cast<std::uint64_t>(nx);
    r.n_y += static_cast<std::uint64_t>(ny);
    const double t = nx + ny;
    if (t > 1) {
      ties = true;
      tie_term += t * t * t - t;
    }
  }
  if (r.n_x == 0 || r.n_y == 0) return r;
  const double m = static_cast<double>(r.n_x);
  const double n = static_cast<double>(r.n_y);
  const double total = m + n;
  const double mean = m * n / 2.0;
  const double variance = m * n / 12.0 * ((total + 1.0) - tie_term / (total * (total - 1.0)));
  if (variance > 0) r.z = (r.u_x - mean) / std::sqrt(variance);

  if (!ties && r.n_x <= kExactLimit && r.n_y <= kExactLimit) {
    std::vector<double> counts = ExactCounts(r.n_x, r.n_y);
    double all = 0;
    for (double c : counts) all += c;
    const auto u = static_cast<std::size_t>(std::llround(r.u_x));  // an integer: no ties
    double at_least = 0, at_most = 0;
    for (std::size_t k = 0; k < counts.size(); ++k) {
      if (k >= u) at_least += counts[k];
      if (k <= u) at_most += counts[k];
    }
    r.p_greater = at_least / all;
    r.p_less = at_most / all;
    r.exact = true;
    return r;
  }
  if (variance <= 0) return r;  // every observation tied: nothing to tell them apart
  const double sd = std::sqrt(variance);
  r.p_greater = NormalUpper((r.u_x - mean - 0.5) / sd);
  r.p_less = NormalCdf((r.u_x - mean + 0.5) / sd);
  r.p_greater = std::min(1.0, r.p_greater);
  r.p_less = std::min(1.0, r.p_less);
  return r;
}

TwoProportions TwoProportionZ(std::uint64_t k_x, std::uint64_t n_x, std::uint64_t k_y,
                              std::uint64_t n_y) {
  TwoProportions r;
  if (n_x == 0 || n_y == 0) return r;
  r.rate_x = static_cast<double>(k_x) / static_cast<double>(n_x);
  r.rate_y = static_cast<double>(k_y) / static_cast<double>(n_y);
  const double pooled =
      static_cast<double>(k_x + k_y) / static_cast<double>(n_x + n_y);
  const double se = std::sqrt(pooled * (1.0 - pooled) *
                              (1.0 / static_cast<double>(n_x) + 1.0 / static_cast<double>(n_y)));
  if (!(se > 0)) return r;
  r.z = (r.rate_x - r.rate_y) / se;
  r.p_greater = NormalUpper(r.z);
  return r;
}

}  // namespace gravity::deploy::stats
