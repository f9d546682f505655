#pragma once

// Latency bins shared by the proxy (which counts requests into them) and the canary judge
// (which compares two pools' counts with a rank test): log-linear, 16 bins per power of
// two, so a bin spans at most 1/16 (6.25%) of its values. 0-15 us have a bin each; values
// from 2^27 us (134 s) up share the last bin.
// Thread-safety: pure functions.

#include <bit>
#include <cstddef>
#include <cstdint>

namespace gravity::latency {

inline constexpr std::size_t kBins = 16 + 23 * 16;  // 384
inline constexpr std::uint64_t kMaxMicros = (std::uint64_t{1} << 27) - 1;

constexpr std::size_t BinOf(std::uint64_t micros) {
  if (micros > kMaxMicros) micros = kMaxMicros;
  if (micros < 16) return static_cast<std::size_t>(micros);
  const int e = 63 - std::countl_zero(micros);  // 4 .. 26
  const std::uint64_t sub = (micros >> (e - 4)) - 16;
  return 16 + static_cast<std::size_t>(e - 4) * 16 + static_cast<std::size_t>(sub);
}

// The smallest value in `bin`, and one past its largest.
constexpr std::uint64_t BinLower(std::size_t bin) {
  if (bin < 16) return bin;
  const std::size_t group = (bin - 16) / 16, sub = (bin - 16) % 16;
  return (16 + std::uint64_t{sub}) << group;
}
constexpr std::uint64_t BinUpper(std::size_t bin) {
  return bin < 16 ? bin + 1 : BinLower(bin) + (std::uint64_t{1} << ((bin - 16) / 16));
}

// The value a bin stands for in quantiles: its middle.
constexpr double BinMiddle(std::size_t bin) {
  return bin < 16 ? static_cast<double>(bin)
                  : (static_cast<double>(BinLower(bin)) + static_cast<double>(BinUpper(bin))) / 2;
}

}  // namespace gravity::latency
