// The generator of random.h. Every floating-point step is one IEEE 754 operation (+, -, *, /,
// sqrt, frexp, conversions) in the order tools/ttt_random.py performs it; this file is compiled
// with -ffp-contract=off so no step is fused into a multiply-add. No libm transcendental is used:
// their last bit differs between C libraries and numpy's SIMD code.
#include "validation/tensor/random.h"

#include <array>
#include <cmath>
#include <cstdio>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

namespace ttt {
namespace {

constexpr std::uint64_t kGoldenGamma = 0x9E3779B97F4A7C15ULL;
constexpr std::uint64_t kMix1 = 0xBF58476D1CE4E5B9ULL;
constexpr std::uint64_t kMix2 = 0x94D049BB133111EBULL;
constexpr double kTwoPowMinus53 = 0x1p-53;
constexpr std::uint64_t kMantissaMask = (std::uint64_t{1} << 52) - 1;

// Our natural logarithm: log(p) = e*ln2 + 2*atanh(s), s = (f-1)/(f+1), f in [sqrt(1/2), sqrt(2)).
constexpr double kLn2Hi = 6.93147180369123816490e-01;  // 32 trailing zero bits: e*kLn2Hi exact.
constexpr double kLn2Lo = 1.90821492927058770002e-10;  // ln 2 - kLn2Hi.
// 1, 1/3, ..., 1/21: |s| <= 0.1716, so the first omitted term is below 2^-56 of the sum.
constexpr int kLogTerms = 11;

constexpr std::array<double, kLogTerms> log_coefficients() {
  std::array<double, kLogTerms> coefficients{};
  for (int k = 0; k < kLogTerms; ++k) coefficients[k] = 1.0 / static_cast<double>(2 * k + 1);
  return coefficients;
}
constexpr std::array<double, kLogTerms> kLogCoefficients = log_coefficients();

// Peter Acklam's rational approximation of the normal quantile (relative error < 1.15e-9).
constexpr std::array<double, 6> kAcklamA = {-3.969683028665376e+01, 2.209460984245205e+02,
                                            -2.759285104469687e+02, 1.383577518672690e+02,
                                            -3.066479806614716e+01, 2.506628277459239e+00};
constexpr std::array<double, 5> kAcklamB = {-5.447609879822406e+01, 1.615858368580409e+02,
                                            -1.556989798598866e+02, 6.680131188771972e+01,
                                            -1.328068155288572e+01};
constexpr std::array<double, 6> kAcklamC = {-7.784894002430293e-03, -3.223964580411365e-01,
                                            -2.400758277161838e+00, -2.549732539343734e+00,
                                            4.374664141464968e+00,  2.938163982698783e+00};
constexpr std::array<double, 4> kAcklamD = {7.784695709041462e-03, 3.224671290700398e-01,
                                            2.445134137142996e+00, 3.754408661907416e+00};
constexpr double kAcklamPLow = 0.02425;

// Natural log of a positive normal double.
double our_log(double p) {
  int exponent = 0;
  double f = std::frexp(p, &exponent);  // p = f * 2^exponent, f in [0.5, 1): exact.
  if (f < std::sqrt(0.5)) {
    f = f * 2.0;
    exponent = exponent - 1;
  }
  const double e = static_cast<double>(exponent);
  const double s = (f - 1.0) / (f + 1.0);
  const double s2 = s * s;
  double poly = kLogCoefficients[kLogTerms - 1];
  for (int k = kLogTerms - 2; k >= 0; --k) poly = poly * s2 + kLogCoefficients[k];
  return e * kLn2Hi + (e * kLn2Lo + (2.0 * s) * poly);
}

template <std::size_t N>
double horner(const std::array<double, N>& coefficients, double x) {
  double result = coefficients[0];
  for (std::size_t i = 1; i < N; ++i) result = result * x + coefficients[i];
  return result;
}

// Acklam's quantile for p in (0, 0.5): a value <= 0.
double lower_normal_quantile(double p) {
  if (p < kAcklamPLow) {
    const double q = std::sqrt(-2.0 * our_log(p));
    return horner(kAcklamC, q) / (horner(kAcklamD, q) * q + 1.0);
  }
  const double q = p - 0.5;
  const double r = q * q;
  return horner(kAcklamA, r) * q / (horner(kAcklamB, r) * r + 1.0);
}

double unit_uniform_from_bits(std::uint64_t bits) {
  return static_cast<double>(bits >> 11) * kTwoPowMinus53;
}

// High 64 bits of the 128-bit product, from 32-bit halves (the twin does the same in numpy).
std::uint64_t mulhi64(std::uint64_t x, std::uint64_t y) {
  constexpr std::uint64_t kMask32 = 0xFFFFFFFFULL;
  const std::uint64_t x_lo = x & kMask32, x_hi = x >> 32;
  const std::uint64_t y_lo = y & kMask32, y_hi = y >> 32;
  const std::uint64_t low_low = x_lo * y_lo;
  const std::uint64_t high_low = x_hi * y_lo;
  const std::uint64_t low_high = x_lo * y_hi;
  const std::uint64_t high_high = x_hi * y_hi;
  const std::uint64_t middle = (low_low >> 32) + (high_low & kMask32) + (low_high & kMask32);
  return high_high + (high_low >> 32) + (low_high >> 32) + (middle >> 32);
}

void require_floating(DType dtype, const char* operation) {
  if (!is_floating(dtype)) {
    throw std::invalid_argument(std::string("[") + operation + "] dtype " +
                                std::string(dtype_name(dtype)) + " is not a floating dtype");
  }
}

// Text that reads back as the same double, for error messages.
std::string number_text(double value) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.17g", value);
  return text;
}

// low + floor(draw * span / 2^64) for each element, in two's complement arithmetic modulo 2^64.
template <typename Int>
std::vector<Int> integer_values(std::int64_t numel, std::uint64_t seed, std::int64_t low,
                                std::uint64_t span) {
  std::vector<Int> values(static_cast<std::size_t>(numel));
  for (std::int64_t i = 0; i < numel; ++i) {
    const std::uint64_t offset = mulhi64(splitmix64_at(seed, static_cast<std::uint64_t>(i)), span);
    values[static_cast<std::size_t>(i)] =
        static_cast<Int>(static_cast<std::int64_t>(static_cast<std::uint64_t>(low) + offset));
  }
  return values;
}

}  // namespace

std::uint64_t splitmix64_at(std::uint64_t seed, std::uint64_t index) {
  std::uint64_t z = seed + (index + 1) * kGoldenGamma;
  z = (z ^ (z >> 30)) * kMix1;
  z = (z ^ (z >> 27)) * kMix2;
  return z ^ (z >> 31);
}

double standard_normal_from_bits(std::uint64_t bits) {
  const std::uint64_t k = (bits >> 11) & kMantissaMask;
  // k + 0.5 < 2^52 needs at most 53 significant bits: p is exact and never reaches 0 or 0.5.
  const double p = (static_cast<double>(k) + 0.5) * kTwoPowMinus53;
  const double z = lower_normal_quantile(p);
  return (bits >> 63) != 0 ? -z : z;
}

Tensor random_uniform(Shape shape, std::uint64_t seed, double low, double high, DType dtype) {
  require_floating(dtype, "random_uniform");
  const double width = high - low;
  if (!std::isfinite(low) || !std::isfinite(high) || !(low < high) || !std::isfinite(width)) {
    throw std::invalid_argument("[random_uniform] need finite low < high, got low=" +
                                number_text(low) + " high=" + number_text(high));
  }
  const std::int64_t numel = shape_numel(shape, "random_uniform");
  std::vector<float> values(static_cast<std::size_t>(numel));
  for (std::int64_t i = 0; i < numel; ++i) {
    const double u = unit_uniform_from_bits(splitmix64_at(seed, static_cast<std::uint64_t>(i)));
    float value = static_cast<float>(low + width * u);
    if (static_cast<double>(value) >= high) {
      value = std::nextafter(value, -std::numeric_limits<float>::infinity());
    }
    values[static_cast<std::size_t>(i)] = value;
  }
  return Tensor::from_floats(std::move(shape), std::move(values), dtype);
}

Tensor random_normal(Shape shape, std::uint64_t seed, double mean, double std, DType dtype) {
  require_floating(dtype, "random_normal");
  if (!std::isfinite(mean) || !std::isfinite(std) || !(std >= 0.0)) {
    throw std::invalid_argument("[random_normal] need finite mean and std >= 0, got mean=" +
                                number_text(mean) + " std=" + number_text(std));
  }
  const std::int64_t numel = shape_numel(shape, "random_normal");
  std::vector<float> values(static_cast<std::size_t>(numel));
  for (std::int64_t i = 0; i < numel; ++i) {
    const double z = standard_normal_from_bits(splitmix64_at(seed, static_cast<std::uint64_t>(i)));
    // IEEE 754 rounding to nearest float32; beyond the float32 range that is +-Inf.
    values[static_cast<std::size_t>(i)] = static_cast<float>(mean + std * z);
  }
  return Tensor::from_floats(std::move(shape), std::move(values), dtype);
}

Tensor random_tensor(Shape shape, const RandomSpec& spec, DType dtype) {
  switch (spec.distribution) {
    case Distribution::uniform:
      return random_uniform(std::move(shape), spec.seed, spec.a, spec.b, dtype);
    case Distribution::normal:
      return random_normal(std::move(shape), spec.seed, spec.a, spec.b, dtype);
  }
  throw std::invalid_argument("[random_tensor] unknown distribution " +
                              std::to_string(static_cast<int>(spec.distribution)));
}

Tensor random_integers(Shape shape, std::uint64_t seed, std::int64_t low, std::int64_t high,
                       DType dtype) {
  if (dtype != DType::int32 && dtype != DType::int64) {
    throw std::invalid_argument("[random_integers] dtype " + std::string(dtype_name(dtype)) +
                                " is not int32 or int64");
  }
  const bool fits =
      dtype == DType::int64 || (low >= std::numeric_limits<std::int32_t>::min() &&
                                high <= std::int64_t{std::numeric_limits<std::int32_t>::max()} + 1);
  if (!(low < high) || !fits) {
    throw std::invalid_argument(
        "[random_integers] need low < high within " + std::string(dtype_name(dtype)) +
        ", got low=" + std::to_string(low) + " high=" + std::to_string(high));
  }
  const std::int64_t numel = shape_numel(shape, "random_integers");
  const std::uint64_t span = static_cast<std::uint64_t>(high) - static_cast<std::uint64_t>(low);
  if (dtype == DType::int32) {
    return Tensor::from_int32(std::move(shape),
                              integer_values<std::int32_t>(numel, seed, low, span));
  }
  return Tensor::from_int64(std::move(shape), integer_values<std::int64_t>(numel, seed, low, span));
}

}  // namespace ttt
