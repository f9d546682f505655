#include "common/latency_bins.h"

#include <gtest/gtest.h>

namespace gravity::latency {
namespace {

TEST(LatencyBinsTest, EveryValueFallsInsideItsBin) {
  const std::uint64_t values[] = {0,   1,    15,     16,        17,        31,        32,
                                  33,  999,  1000,   50'000,    1'000'000, kMaxMicros};
  for (std::uint64_t v : values) {
    SCOPED_TRACE(v);
    std::size_t b = BinOf(v);
    ASSERT_LT(b, kBins);
    EXPECT_LE(BinLower(b), v);
    EXPECT_LT(v, BinUpper(b));
  }
  EXPECT_EQ(BinOf(kMaxMicros), kBins - 1);
  EXPECT_EQ(BinOf(kMaxMicros * 100), kBins - 1);  // clamped
}

TEST(LatencyBinsTest, BinsTileTheRangeWithBoundedRelativeWidth) {
  for (std::size_t b = 0; b + 1 < kBins; ++b) {
    SCOPED_TRACE(b);
    EXPECT_EQ(BinUpper(b), BinLower(b + 1));
    EXPECT_EQ(BinOf(BinLower(b)), b);
    EXPECT_EQ(BinOf(BinUpper(b) - 1), b);
    if (b >= 16) {
      EXPECT_LE(static_cast<double>(BinUpper(b) - BinLower(b)),
                static_cast<double>(BinLower(b)) / 16.0);
    }
  }
}

}  // namespace
}  // namespace gravity::latency
