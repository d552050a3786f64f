// Internal to the metrics library: element access shared by its passes (the fused pass in
// passes.cc, the second pass in distribution.cc and radix_select.cc).
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "validation/metrics/internal/passes.h"

namespace ttt::metrics_internal {

// The kernel a pass runs when `requested` (Kernel's rules); throws std::logic_error naming
// `caller` for a kernel this CPU or these element types cannot run.
Kernel choose_kernel(Kernel requested, const PassInput& input, const char* caller);

template <typename T>
double as_double(T value) {
  return static_cast<double>(value);
}

// a - e for a pair of finite values. An int64 side is subtracted in long double, whose 64-bit
// significand holds every int64 exactly, so that 2^62 + 1 against 2^62 differs by 1 (in double
// both are 2^62). Two finite float64 values can differ by more than the largest double: the result
// is then clamped to it, so that an error is always finite for a finite pair.
template <typename TA, typename TE>
double difference_of(TA actual, TE expected) {
  double difference;
  if constexpr (std::is_same_v<TA, std::int64_t> || std::is_same_v<TE, std::int64_t>) {
    difference =
        static_cast<double>(static_cast<long double>(actual) - static_cast<long double>(expected));
  } else {
    difference = as_double(actual) - as_double(expected);
  }
  if constexpr (std::is_same_v<TA, double> || std::is_same_v<TE, double> ||
                std::is_same_v<TA, std::int64_t> || std::is_same_v<TE, std::int64_t>) {
    constexpr double kLargest = std::numeric_limits<double>::max();
    difference = std::clamp(difference, -kLargest, kLargest);
  }
  return difference;
}

// Calls function(pointer) with `data` cast to its element type.
template <typename Function>
decltype(auto) visit_elements(ElementType type, const void* data, Function&& function) {
  switch (type) {
    case ElementType::float32:
      return function(static_cast<const float*>(data));
    case ElementType::int32:
      return function(static_cast<const std::int32_t*>(data));
    case ElementType::int64:
      return function(static_cast<const std::int64_t*>(data));
    case ElementType::float64:
      return function(static_cast<const double*>(data));
  }
  throw std::logic_error("[compute_metrics] invalid element type");
}

// Calls function(actual_pointer, expected_pointer) with both sides cast to their element types.
template <typename Function>
decltype(auto) visit_pair(const PassInput& input, Function&& function) {
  return visit_elements(input.actual_type, input.actual, [&](auto actual) {
    return visit_elements(input.expected_type, input.expected,
                          [&](auto expected) { return function(actual, expected); });
  });
}

// The bit pattern of the double |a - e| at every position, in order, passed to function(bits).
// Finite pairs give patterns below kNonFiniteBits and non-finite pairs give patterns at or above it
// (difference_of keeps the error of a finite pair finite), so the second pass needs no isfinite
// tests; for non-negative doubles the patterns sort like the values.
inline constexpr std::uint64_t kNonFiniteBits = 0x7ff0000000000000ull;

// for_each_error_bits over positions [begin, end) only.
template <typename Function>
void for_each_error_bits(const PassInput& input, std::int64_t begin, std::int64_t end,
                         Function&& function) {
  visit_pair(input, [&](auto actual, auto expected) {
    for (std::int64_t i = begin; i < end; ++i) {
      const double a = as_double(actual[i]);
      const double e = as_double(expected[i]);
      const double abs_error = std::isfinite(a) && std::isfinite(e)
                                   ? std::fabs(difference_of(actual[i], expected[i]))
                                   : std::fabs(a - e);
      function(std::bit_cast<std::uint64_t>(abs_error));
    }
  });
}

// Every position.
template <typename Function>
void for_each_error_bits(const PassInput& input, Function&& function) {
  for_each_error_bits(input, 0, input.numel, function);
}

// The ranks behind p50, p90 and p99 with numpy's default ("linear") interpolation: each quantile
// lies between the order statistics low and high = min(low + 1, n - 1) of the n finite errors.
inline constexpr std::size_t kQuantiles = 3;
struct QuantileRanks {
  std::array<std::int64_t, kQuantiles> low{};
  std::array<std::int64_t, kQuantiles> high{};
  std::array<double, kQuantiles> fraction{};  // Of the way from low to high.

  // low[0], high[0], low[1], ...: the order statistics to find.
  std::vector<std::int64_t> ranks() const {
    std::vector<std::int64_t> all;
    for (std::size_t q = 0; q < kQuantiles; ++q) {
      all.push_back(low[q]);
      all.push_back(high[q]);
    }
    return all;
  }

  // The quantiles given the order statistics at low and high, in numpy's form that stays
  // monotone in the fraction.
  ErrorQuantiles interpolate(const std::array<double, kQuantiles>& at_low,
                             const std::array<double, kQuantiles>& at_high) const {
    std::array<double, kQuantiles> values{};
    for (std::size_t q = 0; q < kQuantiles; ++q) {
      const double difference = at_high[q] - at_low[q];
      const double t = fraction[q];
      values[q] = t < 0.5 ? at_low[q] + difference * t : at_high[q] - difference * (1.0 - t);
    }
    return {values[0], values[1], values[2]};
  }
};

// REQUIRES: n > 0.
inline QuantileRanks quantile_ranks(std::int64_t n) {
  constexpr std::array<double, kQuantiles> kFractions = {0.5, 0.9, 0.99};
  QuantileRanks ranks;
  for (std::size_t q = 0; q < kQuantiles; ++q) {
    const double position = static_cast<double>(n - 1) * kFractions[q];
    ranks.low[q] = static_cast<std::int64_t>(std::floor(position));
    ranks.high[q] = std::min(ranks.low[q] + 1, n - 1);
    ranks.fraction[q] = position - std::floor(position);
  }
  return ranks;
}

// The bins + 1 edges of ErrorHistogram: 0, M 10^(1 - bins), ..., M 10^-1, M. REQUIRES: bins > 0.
inline std::vector<double> decade_edges(double max_abs_error, int bins) {
  const auto count = static_cast<std::size_t>(bins);
  std::vector<double> edges(count + 1, 0.0);
  for (std::size_t k = 1; k < count; ++k) {
    edges[k] = max_abs_error * std::pow(10.0, static_cast<double>(k) - static_cast<double>(count));
  }
  edges[count] = max_abs_error;
  return edges;
}

}  // namespace ttt::metrics_internal
