#include "coverage/tway.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace ttt {
namespace {

// Whether a tuple (values[i] for parameters[i]) is ruled out by a constraint.
bool ruled_out(const std::vector<std::size_t>& parameters, const std::vector<std::size_t>& values,
               const std::vector<TwayConstraint>& constraints) {
  for (const TwayConstraint& constraint : constraints) {
    std::optional<std::size_t> if_at;
    std::optional<std::size_t> then_at;
    for (std::size_t i = 0; i < parameters.size(); ++i) {
      if (parameters[i] == constraint.if_parameter) if_at = i;
      if (parameters[i] == constraint.then_parameter) then_at = i;
    }
    if (!if_at.has_value() || !then_at.has_value()) continue;
    if (values[*if_at] != constraint.if_value) continue;
    if (std::find(constraint.allowed.begin(), constraint.allowed.end(), values[*then_at]) ==
        constraint.allowed.end()) {
      return true;
    }
  }
  return false;
}

// Advances `indices` to the next t-subset of [0, n) in lexicographic order; false after the last.
bool next_combination(std::vector<std::size_t>& indices, std::size_t n) {
  const std::size_t t = indices.size();
  for (std::size_t i = t; i-- > 0;) {
    if (indices[i] < n - t + i) {
      ++indices[i];
      for (std::size_t j = i + 1; j < t; ++j) indices[j] = indices[j - 1] + 1;
      return true;
    }
  }
  return false;
}

}  // namespace

TwayCoverage compute_tway_coverage(
    const std::vector<std::size_t>& domain_sizes,
    const std::vector<std::vector<std::optional<std::size_t>>>& tests, int strength,
    const std::vector<TwayConstraint>& constraints) {
  const std::size_t n = domain_sizes.size();
  for (std::size_t k = 0; k < tests.size(); ++k) {
    if (tests[k].size() != n) {
      throw std::invalid_argument("[tway] test " + std::to_string(k) + " has " +
                                  std::to_string(tests[k].size()) + " values, expected " +
                                  std::to_string(n));
    }
    for (std::size_t i = 0; i < n; ++i) {
      if (tests[k][i].has_value() && *tests[k][i] >= domain_sizes[i]) {
        throw std::invalid_argument("[tway] test " + std::to_string(k) + " gives parameter " +
                                    std::to_string(i) + " value " + std::to_string(*tests[k][i]) +
                                    ", its domain has " + std::to_string(domain_sizes[i]));
      }
    }
  }
  for (const TwayConstraint& constraint : constraints) {
    if (constraint.if_parameter >= n || constraint.then_parameter >= n ||
        constraint.if_value >= domain_sizes[constraint.if_parameter] ||
        std::any_of(constraint.allowed.begin(), constraint.allowed.end(),
                    [&](std::size_t v) { return v >= domain_sizes[constraint.then_parameter]; })) {
      throw std::invalid_argument("[tway] a constraint names a parameter or value out of range");
    }
  }
  TwayCoverage result;
  if (n == 0) return result;
  const std::size_t t = static_cast<std::size_t>(std::clamp(strength, 1, static_cast<int>(n)));
  result.strength = static_cast<int>(t);

  std::vector<std::size_t> parameters(t);
  for (std::size_t i = 0; i < t; ++i) parameters[i] = i;
  do {
    // Tuples of this combination in mixed radix (the last parameter varies fastest).
    std::size_t tuple_count = 1;
    for (std::size_t p : parameters) tuple_count *= domain_sizes[p];
    std::vector<bool> covered(tuple_count, false);
    for (const auto& test : tests) {
      std::size_t index = 0;
      bool known = true;
      for (std::size_t p : parameters) {
        if (!test[p].has_value()) {
          known = false;
          break;
        }
        index = index * domain_sizes[p] + *test[p];
      }
      if (known) covered[index] = true;
    }
    TwayCombination combination;
    combination.parameters = parameters;
    std::vector<std::size_t> values(t, 0);
    for (std::size_t index = 0; index < tuple_count; ++index) {
      std::size_t rest = index;
      for (std::size_t i = t; i-- > 0;) {
        values[i] = rest % domain_sizes[parameters[i]];
        rest /= domain_sizes[parameters[i]];
      }
      if (ruled_out(parameters, values, constraints)) continue;
      ++combination.tuples;
      if (covered[index]) {
        ++combination.covered;
        continue;
      }
      std::vector<TwayAssignment> missing;
      for (std::size_t i = 0; i < t; ++i) missing.emplace_back(parameters[i], values[i]);
      result.missing.push_back(std::move(missing));
    }
    if (combination.tuples > 0) {
      ++result.combinations;
      if (combination.covered == combination.tuples) ++result.complete_combinations;
      result.tuples += combination.tuples;
      result.covered_tuples += combination.covered;
      result.per_combination.push_back(std::move(combination));
    }
  } while (next_combination(parameters, n));
  if (result.combinations > 0) {
    result.simple_coverage = static_cast<double>(result.complete_combinations) /
                             static_cast<double>(result.combinations);
  }
  if (result.tuples > 0) {
    result.total_coverage =
        static_cast<double>(result.covered_tuples) / static_cast<double>(result.tuples);
  }
  return result;
}

}  // namespace ttt
