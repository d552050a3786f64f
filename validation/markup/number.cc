#include "validation/markup/number.h"

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <system_error>

namespace ttt {

std::string format_number(double value) {
  // The longest shortest-round-trip double is "-2.2250738585072014e-308": 24 characters.
  char buffer[32];
  const std::to_chars_result result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  if (result.ec != std::errc()) throw std::logic_error("[format_number] buffer too small");
  return std::string(buffer, result.ptr);
}

std::string format_scaled(double value) { return format_significant(value, 15); }

std::string format_beside(double value, double threshold) {
  const auto order = [](double a, double b) { return (a > b) - (a < b); };
  const int exact = order(value, threshold);
  for (int digits = 4; digits < 17; ++digits) {
    const std::string text = format_significant(value, digits);
    if (order(std::strtod(text.c_str(), nullptr), threshold) == exact) return text;
  }
  return format_number(value);
}

std::string format_significant(double value, int digits) {
  if (digits < 1 || digits > 17) {
    throw std::invalid_argument("[format_significant] digits " + std::to_string(digits) +
                                " must be between 1 and 17");
  }
  char buffer[40];
  std::snprintf(buffer, sizeof(buffer), "%.*g", digits, value);
  return buffer;
}

}  // namespace ttt
